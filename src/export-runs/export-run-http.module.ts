import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { ExportRunController } from './export-run.controller';
import { ExportRunModule } from './export-run.module';

/** The export routes: composed in only when the REST API is served (IntegrationsModule `http`). */
@Module({
  imports: [ExportRunModule, IdempotencyModule],
  controllers: [ExportRunController],
})
export class ExportRunHttpModule {}
