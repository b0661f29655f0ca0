import type { MigrationInterface, QueryRunner } from 'typeorm';

/** webhook_events: inbound deliveries, byte-exact, idempotent per (integration, webhook-id). */
export class WebhookEvents1763800000002 implements MigrationInterface {
  name = 'WebhookEvents1763800000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_events (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        integration_id uuid NOT NULL CONSTRAINT fk_webhook_events_integration REFERENCES integration_configs (id) ON DELETE CASCADE,
        webhook_id varchar(255) NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        signature_scheme text NOT NULL CONSTRAINT chk_webhook_events_scheme CHECK (signature_scheme IN ('standard_webhooks', 'xledger')),
        payload bytea NOT NULL,
        content_type varchar(255),
        CONSTRAINT webhook_events_seq_key UNIQUE (seq)
      )`);
    await q.query(`CREATE UNIQUE INDEX idx_webhook_events_integration_webhook_id ON webhook_events (integration_id, webhook_id)`);
    await q.query(`CREATE INDEX idx_webhook_events_integration_seq ON webhook_events (organization_id, integration_id, seq DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_events`);
  }
}
