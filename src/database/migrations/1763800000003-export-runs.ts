import type { MigrationInterface, QueryRunner } from 'typeorm';

/** export_runs: what each export produced and which mapping versions produced it. */
export class ExportRuns1763800000003 implements MigrationInterface {
  name = 'ExportRuns1763800000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE export_runs (
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        integration_id uuid NOT NULL CONSTRAINT fk_export_runs_integration REFERENCES integration_configs (id) ON DELETE CASCADE,
        status text NOT NULL CONSTRAINT chk_export_runs_status CHECK (status IN ('completed')),
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        row_count integer NOT NULL CONSTRAINT chk_export_runs_row_count CHECK (row_count >= 0),
        skipped_count integer NOT NULL CONSTRAINT chk_export_runs_skipped_count CHECK (skipped_count >= 0),
        mappings_used jsonb NOT NULL CONSTRAINT chk_export_runs_mappings_used CHECK (jsonb_typeof(mappings_used) = 'array'),
        result jsonb NOT NULL,
        created_by uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX idx_export_runs_integration_seq ON export_runs (organization_id, integration_id, seq DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE export_runs`);
  }
}
