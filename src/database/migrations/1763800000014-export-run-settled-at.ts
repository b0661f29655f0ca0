import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When a delivered run's delivery ended (delivered, partially_delivered, failed): retention ages a
 * run from then, not from its export, so a run queued for months (a paused config) and delivered
 * today keeps its row states as long as any other. Runs settled before this column count as
 * settled now (when is not known: the one delivered yesterday after months must not go at the
 * next hourly prune); null for exports that were not delivered.
 */
export class ExportRunSettledAt1763800000014 implements MigrationInterface {
  name = 'ExportRunSettledAt1763800000014';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_runs ADD COLUMN settled_at timestamptz`);
    await q.query(`UPDATE export_runs SET settled_at = now() WHERE status IN ('delivered', 'partially_delivered', 'failed')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_runs DROP COLUMN settled_at`);
  }
}
