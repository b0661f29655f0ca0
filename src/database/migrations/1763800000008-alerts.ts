import type { MigrationInterface, QueryRunner } from 'typeorm';

// The envelope of src/crypto/secret-cipher.ts (ENVELOPE_SQL_PATTERN), frozen here as migrations are.
const ENVELOPE = `'^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'`;

/**
 * Failure alerts (issue 20): alert_endpoints (an organization's https receivers, each with its
 * Standard Webhooks signing secret, encrypted), and a config's pause after failed attempts in a row.
 */
export class Alerts1763800000008 implements MigrationInterface {
  name = 'Alerts1763800000008';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE alert_endpoints (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        url varchar(2048) NOT NULL CONSTRAINT chk_alert_endpoints_url CHECK (url ~ '^https://'),
        description varchar(200),
        signing_secret_encrypted text NOT NULL CONSTRAINT chk_alert_endpoints_secret_envelope CHECK (signing_secret_encrypted ~ ${ENVELOPE}),
        created_by uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT alert_endpoints_seq_key UNIQUE (seq)
      )`);
    await q.query(`CREATE INDEX idx_alert_endpoints_org_seq ON alert_endpoints (organization_id, seq)`);
    await q.query(`ALTER TABLE integration_configs ADD COLUMN paused boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE integration_configs ADD COLUMN paused_at timestamptz`);
    await q.query(
      `ALTER TABLE integration_configs ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0 CONSTRAINT chk_integration_configs_consecutive_failures CHECK (consecutive_failures >= 0)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE integration_configs DROP COLUMN consecutive_failures, DROP COLUMN paused_at, DROP COLUMN paused`);
    await q.query(`DROP TABLE alert_endpoints`);
  }
}
