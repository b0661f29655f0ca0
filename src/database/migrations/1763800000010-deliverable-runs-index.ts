import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The delivery sweep (DeliveryService.requeueStranded) looks, every few minutes and across every
 * organization, for runs still waiting for delivery: a partial index holds just those, so the look
 * reads the few waiting runs, not every export ever kept.
 */
export class DeliverableRunsIndex1763800000010 implements MigrationInterface {
  name = 'DeliverableRunsIndex1763800000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX idx_export_runs_deliverable ON export_runs (organization_id, integration_id) WHERE status IN ('queued', 'delivering')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX idx_export_runs_deliverable`);
  }
}
