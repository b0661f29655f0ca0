import { AlertEndpointEntity } from '../alerts/alert-endpoint.entity';
import { AuditEventEntity } from '../audit/audit-event.entity';
import { ExportRunEntity, ExportRunRowEntity } from '../export-runs/export-run.entity';
import { IdempotencyKeyEntity } from '../idempotency/idempotency-key.entity';
import { FieldMappingEntity } from '../field-mapping/field-mapping.entity';
import { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import { SyncRunEntity } from '../integration-config/sync-run.entity';
import { IntegrationTypeRow } from '../integration-types/integration-type-row.entity';
import { WebhookEventEntity } from '../webhooks/webhook-event.entity';

// Every TypeORM entity of the service. A feature adds its entity here.
export const ENTITIES = [
  IntegrationTypeRow,
  IntegrationConfigEntity,
  SyncRunEntity,
  FieldMappingEntity,
  ExportRunEntity,
  ExportRunRowEntity,
  WebhookEventEntity,
  IdempotencyKeyEntity,
  AuditEventEntity,
  AlertEndpointEntity,
];
