import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two lookups that read a whole table, or a whole organization's trail, without an index:
 * - deleting a config cascades to its sync runs, by `integration_id` alone (the one index with it
 *   starts with the organization), so the delete scanned every organization's sync runs;
 * - the audit trail filtered by `action` walked the organization's whole trail (kept forever by
 *   default) for the few events of one action.
 * Built CONCURRENTLY, outside a transaction: on a populated database the build does not block
 * writes. A build cut short leaves an invalid index, dropped before building it again.
 */
export class LookupIndexes1763800000012 implements MigrationInterface {
  name = 'LookupIndexes1763800000012';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    for (const [name, definition] of INDEXES) {
      await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
      await q.query(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [name] of INDEXES) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  }
}

const INDEXES: [string, string][] = [
  ['idx_sync_runs_integration', 'sync_runs (integration_id)'],
  ['idx_audit_events_org_action_seq', 'audit_events (organization_id, action, seq DESC)'],
];
