import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The external system's own wait (Retry-After) for a run's retry, apart from the engine's backoff
 * in next_attempt_at: POST …/sync sends a run now, past the backoff, but never before this.
 */
export class RetryNotBefore1763800000013 implements MigrationInterface {
  name = 'RetryNotBefore1763800000013';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_runs ADD COLUMN not_before timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_runs DROP COLUMN not_before`);
  }
}
