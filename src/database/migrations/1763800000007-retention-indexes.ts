import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The retention job (src/retention) finds rows older than a cutoff a batch at a time, oldest
 * first: an index on each table's age column, so a batch reads its rows and not the table. And it
 * keeps the first export run that used each mapping version (`used_in_export`): a GIN index on
 * `mappings_used` finds a version's runs without reading every run of the config.
 * (audit_events has its own on occurred_at: 1763800000006.)
 */
export class RetentionIndexes1763800000007 implements MigrationInterface {
  name = 'RetentionIndexes1763800000007';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX idx_webhook_events_received_at ON webhook_events (received_at)`);
    await q.query(`CREATE INDEX idx_sync_runs_created_at ON sync_runs (created_at)`);
    await q.query(`CREATE INDEX idx_export_runs_created_at ON export_runs (created_at)`);
    await q.query(`CREATE INDEX idx_export_runs_mappings_used ON export_runs USING gin (mappings_used jsonb_path_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX idx_export_runs_mappings_used`);
    await q.query(`DROP INDEX idx_export_runs_created_at`);
    await q.query(`DROP INDEX idx_sync_runs_created_at`);
    await q.query(`DROP INDEX idx_webhook_events_received_at`);
  }
}
