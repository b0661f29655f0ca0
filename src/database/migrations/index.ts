import type { MigrationInterface } from 'typeorm';
import { IntegrationConfigs1763800000000 } from './1763800000000-integration-configs';
import { FieldMappings1763800000001 } from './1763800000001-field-mappings';
import { WebhookEvents1763800000002 } from './1763800000002-webhook-events';
import { ExportRuns1763800000003 } from './1763800000003-export-runs';
import { IdempotencyKeys1763800000004 } from './1763800000004-idempotency-keys';
import { Delivery1763800000005 } from './1763800000005-delivery';
import { AuditEvents1763800000006 } from './1763800000006-audit-events';
import { Alerts1763800000008 } from './1763800000008-alerts';
import { RetentionIndexes1763800000007 } from './1763800000007-retention-indexes';
import { ExportRowOrder1763800000009 } from './1763800000009-export-row-order';
import { DeliverableRunsIndex1763800000010 } from './1763800000010-deliverable-runs-index';
import { OlderWebhookSecret1763800000011 } from './1763800000011-older-webhook-secret';
import { LookupIndexes1763800000012 } from './1763800000012-lookup-indexes';
import { RetryNotBefore1763800000013 } from './1763800000013-retry-not-before';
import { ExportRunSettledAt1763800000014 } from './1763800000014-export-run-settled-at';
import { OrgConsistentForeignKeys1763800000015 } from './1763800000015-org-consistent-foreign-keys';
import { DropTableWideSeqKeys1763800000016 } from './1763800000016-drop-table-wide-seq-keys';
import { AuditEventsOrgOccurredAt1763800000017 } from './1763800000017-audit-events-org-occurred-at';

// Every migration, oldest first. `npm run migration:generate` writes a new file here: add it.
// (gen_random_uuid() is core PostgreSQL since 13, so no extension is needed.)
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  IntegrationConfigs1763800000000,
  FieldMappings1763800000001,
  WebhookEvents1763800000002,
  ExportRuns1763800000003,
  IdempotencyKeys1763800000004,
  Delivery1763800000005,
  AuditEvents1763800000006,
  RetentionIndexes1763800000007,
  Alerts1763800000008,
  ExportRowOrder1763800000009,
  DeliverableRunsIndex1763800000010,
  OlderWebhookSecret1763800000011,
  LookupIndexes1763800000012,
  RetryNotBefore1763800000013,
  ExportRunSettledAt1763800000014,
  OrgConsistentForeignKeys1763800000015,
  DropTableWideSeqKeys1763800000016,
  AuditEventsOrgOccurredAt1763800000017,
];
