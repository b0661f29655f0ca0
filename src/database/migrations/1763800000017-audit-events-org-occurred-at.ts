import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail's `from`/`to` window had one index to narrow it by, idx_audit_events_occurred_at
 * (the retention job's: every tenant's events, oldest first), and with a narrow window the planner
 * took it: a page read every organization's events in the window. This one reads this
 * organization's only. Its time is an expression, `timezone('UTC', occurred_at)` (the UTC wall
 * time: the same order), and the trail compares that expression, so the retention job's index, on
 * the plain column, cannot serve the trail at all. (On the plain column the planner still chose
 * the table-wide index whenever the organization held a fair share of the table: its cost model
 * prices this index's heap reads by the organization column's order, as if scattered.) The
 * retention job keeps its index.
 *
 * Built CONCURRENTLY, outside a transaction: on a populated database the build does not block
 * writes. A build cut short leaves an invalid index, dropped before building it again.
 */
export class AuditEventsOrgOccurredAt1763800000017 implements MigrationInterface {
  name = 'AuditEventsOrgOccurredAt1763800000017';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS idx_audit_events_org_occurred_at`);
    await q.query(`CREATE INDEX CONCURRENTLY idx_audit_events_org_occurred_at ON audit_events (organization_id, timezone('UTC', occurred_at))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS idx_audit_events_org_occurred_at`);
  }
}
