import type { MigrationInterface, QueryRunner } from 'typeorm';

/** idempotency_keys: the first answer to a POST sent with an Idempotency-Key, replayed for 24 h. */
export class IdempotencyKeys1763800000004 implements MigrationInterface {
  name = 'IdempotencyKeys1763800000004';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE idempotency_keys (
        organization_id uuid NOT NULL,
        principal_sub text NOT NULL,
        key varchar(255) NOT NULL,
        request_fingerprint text NOT NULL,
        state text NOT NULL CONSTRAINT chk_idempotency_keys_state CHECK (state IN ('in_progress', 'completed')),
        response_status integer,
        response_body text,
        response_etag text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_idempotency_keys PRIMARY KEY (organization_id, principal_sub, key)
      )`);
    await q.query(`CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
  }
}
