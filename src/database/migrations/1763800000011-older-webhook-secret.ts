import type { MigrationInterface, QueryRunner } from 'typeorm';

// The envelope of src/crypto/secret-cipher.ts (ENVELOPE_SQL_PATTERN), frozen here as migrations are.
const ENVELOPE = `'^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'`;

/**
 * A second replaced webhook secret, with its own expiry: a rotation repeated within the previous
 * secret's 24 hours (a retry whose answer was lost, say) keeps that secret verifying too, for the
 * sender that still signs with it, instead of dropping it at once.
 */
export class OlderWebhookSecret1763800000011 implements MigrationInterface {
  name = 'OlderWebhookSecret1763800000011';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE integration_configs
      ADD COLUMN older_webhook_secret_encrypted text CONSTRAINT chk_integration_configs_older_webhook_secret_envelope CHECK (older_webhook_secret_encrypted ~ ${ENVELOPE}),
      ADD COLUMN older_webhook_secret_expires_at timestamptz,
      ADD CONSTRAINT chk_integration_configs_older_webhook_secret_expiry CHECK ((older_webhook_secret_encrypted IS NULL) = (older_webhook_secret_expires_at IS NULL))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE integration_configs DROP CONSTRAINT chk_integration_configs_older_webhook_secret_expiry,
      DROP COLUMN older_webhook_secret_expires_at, DROP COLUMN older_webhook_secret_encrypted`);
  }
}
