import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The growing lists page newest first by `seq` within one tenant's index ((organization_id, …,
 * seq DESC)). A table-wide UNIQUE (seq) index offered the planner a second way to that order: scan
 * every tenant's rows backwards and filter. It took it whenever one tenant held a large share of a
 * table (a big customer), and a page then read every newer row of every other tenant before the
 * first of its own. `seq` is GENERATED ALWAYS AS IDENTITY: no insert sets it, so it stays unique
 * without the index.
 */
export class DropTableWideSeqKeys1763800000016 implements MigrationInterface {
  name = 'DropTableWideSeqKeys1763800000016';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await q.query(`ALTER TABLE ${table} DROP CONSTRAINT ${table}_seq_key`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await q.query(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_seq_key UNIQUE (seq)`);
  }
}

const TABLES = ['sync_runs', 'export_runs', 'audit_events', 'webhook_events'];
