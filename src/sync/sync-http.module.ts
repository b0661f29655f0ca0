import { Module } from '@nestjs/common';
import { SyncController } from './sync.controller';
import { SyncModule } from './sync.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';

/** The delivery routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [SyncModule, IdempotencyModule],
  controllers: [SyncController],
})
export class SyncHttpModule {}
