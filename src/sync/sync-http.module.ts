import { Module } from '@nestjs/common';
import { SyncController } from './sync.controller';
import { SyncModule } from './sync.module';

/** The delivery routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [SyncModule],
  controllers: [SyncController],
})
export class SyncHttpModule {}
