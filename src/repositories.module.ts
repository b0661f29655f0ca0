import { Module } from '@nestjs/common';
import { TransactionRunner } from './database/transaction';
import { ExportRunRowRepository } from './export-runs/export-run-row.repository';
import { ExportRunRepository } from './export-runs/export-run.repository';
import { FieldMappingRepository } from './field-mapping/field-mapping.repository';
import { IntegrationConfigRepository } from './integration-config/integration-config.repository';
import { SyncRunRepository } from './integration-config/sync-run.repository';
import { WebhookEventRepository } from './webhooks/webhook-event.repository';

const REPOSITORIES = [IntegrationConfigRepository, SyncRunRepository, FieldMappingRepository, ExportRunRepository, ExportRunRowRepository, WebhookEventRepository];

/**
 * The repositories of the tables several features reach, and the transaction runner (a table only
 * its own feature reads, the alerts' or the audit trail's, keeps its repository in its module).
 * Shared by the feature modules (field mappings lock their config's row, exports mark the mappings
 * they used), so no feature module needs another's service just to reach a table, and the
 * services' graph runs one way.
 */
@Module({
  providers: [TransactionRunner, ...REPOSITORIES],
  exports: [TransactionRunner, ...REPOSITORIES],
})
export class RepositoriesModule {}
