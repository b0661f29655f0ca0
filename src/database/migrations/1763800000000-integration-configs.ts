import type { MigrationInterface, QueryRunner } from 'typeorm';

// The envelope of src/crypto/secret-cipher.ts (ENVELOPE_SQL_PATTERN), frozen here as migrations are.
const ENVELOPE = `'^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$'`;

/** integration_types (mirror of the registry), integration_configs and sync_runs. */
export class IntegrationConfigs1763800000000 implements MigrationInterface {
  name = 'IntegrationConfigs1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE integration_sync_frequency AS ENUM ('manual', 'realtime', 'hourly', 'daily', 'weekly', 'monthly')`);
    await q.query(`CREATE TYPE integration_sync_status AS ENUM ('success', 'partial', 'failed')`);
    await q.query(`
      CREATE TABLE integration_types (
        integration_type text PRIMARY KEY CONSTRAINT chk_integration_types_name CHECK (integration_type ~ '^[a-z][a-z0-9_]{1,62}$')
      )`);
    await q.query(`INSERT INTO integration_types (integration_type) VALUES ('xledger'), ('dynamics'), ('hlf_portal')`);
    await q.query(`
      CREATE TABLE integration_configs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        integration_type text NOT NULL CONSTRAINT fk_integration_configs_type REFERENCES integration_types (integration_type),
        display_name varchar(200) NOT NULL CONSTRAINT chk_integration_configs_display_name CHECK (btrim(display_name) <> ''),
        enabled boolean NOT NULL DEFAULT false,
        base_url varchar(2048) CONSTRAINT chk_integration_configs_base_url CHECK (base_url ~ '^https://'),
        api_key_encrypted text CONSTRAINT chk_integration_configs_api_key_envelope CHECK (api_key_encrypted ~ ${ENVELOPE}),
        client_id varchar(255),
        client_secret_encrypted text CONSTRAINT chk_integration_configs_client_secret_envelope CHECK (client_secret_encrypted ~ ${ENVELOPE}),
        tenant_id varchar(255),
        accounting_code_mappings jsonb NOT NULL DEFAULT '{}' CONSTRAINT chk_integration_configs_accounting_codes_object CHECK (jsonb_typeof(accounting_code_mappings) = 'object'),
        sync_frequency integration_sync_frequency NOT NULL DEFAULT 'manual',
        last_sync_at timestamptz,
        last_sync_status integration_sync_status,
        last_sync_error text,
        last_success_at timestamptz,
        webhook_url varchar(2048) CONSTRAINT chk_integration_configs_webhook_url CHECK (webhook_url ~ '^https://'),
        webhook_secret_encrypted text CONSTRAINT chk_integration_configs_webhook_secret_envelope CHECK (webhook_secret_encrypted ~ ${ENVELOPE}),
        previous_webhook_secret_encrypted text CONSTRAINT chk_integration_configs_previous_webhook_secret_envelope CHECK (previous_webhook_secret_encrypted ~ ${ENVELOPE}),
        previous_webhook_secret_expires_at timestamptz,
        extra_config jsonb NOT NULL DEFAULT '{}' CONSTRAINT chk_integration_configs_extra_config_object CHECK (jsonb_typeof(extra_config) = 'object'),
        revision integer NOT NULL DEFAULT 1 CONSTRAINT chk_integration_configs_revision CHECK (revision > 0),
        created_by uuid NOT NULL,
        updated_by uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT chk_integration_configs_webhook_secret_required CHECK (webhook_url IS NULL OR webhook_secret_encrypted IS NOT NULL),
        CONSTRAINT chk_integration_configs_previous_webhook_secret_expiry CHECK ((previous_webhook_secret_encrypted IS NULL) = (previous_webhook_secret_expires_at IS NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX idx_integration_configs_org_type ON integration_configs (organization_id, integration_type)`);
    await q.query(`CREATE INDEX idx_integration_configs_org_id ON integration_configs (organization_id)`);
    await q.query(`CREATE INDEX idx_integration_configs_enabled ON integration_configs (enabled)`);

    await q.query(`
      CREATE TABLE sync_runs (
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        integration_id uuid NOT NULL CONSTRAINT fk_sync_runs_integration REFERENCES integration_configs (id) ON DELETE CASCADE,
        status integration_sync_status NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        error text,
        records_pushed integer NOT NULL DEFAULT 0 CONSTRAINT chk_sync_runs_records_pushed CHECK (records_pushed >= 0),
        records_pulled integer NOT NULL DEFAULT 0 CONSTRAINT chk_sync_runs_records_pulled CHECK (records_pulled >= 0),
        recorded_by uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT chk_sync_runs_error_unless_success CHECK (status = 'success' OR error IS NOT NULL),
        CONSTRAINT chk_sync_runs_finished_after_started CHECK (finished_at >= started_at)
      )`);
    await q.query(`CREATE INDEX idx_sync_runs_integration_seq ON sync_runs (organization_id, integration_id, seq DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sync_runs`);
    await q.query(`DROP TABLE integration_configs`);
    await q.query(`DROP TABLE integration_types`);
    await q.query(`DROP TYPE integration_sync_status`);
    await q.query(`DROP TYPE integration_sync_frequency`);
  }
}
