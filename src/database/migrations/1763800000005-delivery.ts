import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Delivery (API.md v1.1): an export run may be queued for delivery, with its attempts, and each
 * of its rows carries a delivery state. The job queue's own tables are pg-boss's (schema pgboss,
 * created by its documented install when the service starts): docs/adr/0003-delivery-job-queue.md.
 */
export class Delivery1763800000005 implements MigrationInterface {
  name = 'Delivery1763800000005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_runs DROP CONSTRAINT chk_export_runs_status`);
    await q.query(
      `ALTER TABLE export_runs ADD CONSTRAINT chk_export_runs_status CHECK (status IN ('completed', 'queued', 'delivering', 'delivered', 'partially_delivered', 'failed', 'cancelled'))`,
    );
    await q.query(`ALTER TABLE export_runs ADD delivery_attempts integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE export_runs ADD delivered_count integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE export_runs ADD failed_count integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE export_runs ADD next_attempt_at timestamptz`);
    await q.query(`ALTER TABLE export_runs ADD last_error text`);
    await q.query(`CREATE INDEX idx_export_runs_integration_status ON export_runs (integration_id, status)`);
    await q.query(`
      CREATE TABLE export_run_rows (
        export_run_id uuid NOT NULL CONSTRAINT fk_export_run_rows_run REFERENCES export_runs (id) ON DELETE CASCADE,
        index integer NOT NULL,
        organization_id uuid NOT NULL,
        claim_id varchar(255),
        output jsonb,
        status text NOT NULL CONSTRAINT chk_export_run_rows_status CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
        external_id varchar(255),
        error text,
        CONSTRAINT pk_export_run_rows PRIMARY KEY (export_run_id, index)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE export_run_rows`);
    await q.query(`DROP INDEX idx_export_runs_integration_status`);
    for (const column of ['delivery_attempts', 'delivered_count', 'failed_count', 'next_attempt_at', 'last_error']) await q.query(`ALTER TABLE export_runs DROP COLUMN ${column}`);
    await q.query(`ALTER TABLE export_runs DROP CONSTRAINT chk_export_runs_status`);
    await q.query(`ALTER TABLE export_runs ADD CONSTRAINT chk_export_runs_status CHECK (status IN ('completed'))`);
  }
}
