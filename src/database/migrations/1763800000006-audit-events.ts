import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * audit_events: the append-only trail of who changed what (issue 20). A trigger refuses every
 * UPDATE, whoever asks; DELETE stays possible for the retention job, and an operator who wants
 * the service's own role unable to delete either revokes it (docs/operations.md "Audit trail").
 */
export class AuditEvents1763800000006 implements MigrationInterface {
  name = 'AuditEvents1763800000006';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        actor_sub uuid,
        actor_role text,
        actor_organization_id uuid,
        resource_type text NOT NULL,
        resource_id uuid,
        integration_id uuid,
        action text NOT NULL,
        changed_fields text[] NOT NULL DEFAULT '{}',
        request_id text,
        details jsonb NOT NULL DEFAULT '{}',
        CONSTRAINT audit_events_seq_key UNIQUE (seq),
        CONSTRAINT chk_audit_events_details_object CHECK (jsonb_typeof(details) = 'object')
      )`);
    // The list is per organization, newest first; filters narrow it (few rows per resource).
    await q.query(`CREATE INDEX idx_audit_events_org_seq ON audit_events (organization_id, seq DESC)`);
    await q.query(`CREATE INDEX idx_audit_events_org_resource ON audit_events (organization_id, resource_id, seq DESC)`);
    await q.query(`CREATE INDEX idx_audit_events_org_integration ON audit_events (organization_id, integration_id, seq DESC)`);
    await q.query(`CREATE INDEX idx_audit_events_occurred_at ON audit_events (occurred_at)`);
    await q.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`CREATE TRIGGER trg_audit_events_append_only BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_events`);
    await q.query(`DROP FUNCTION audit_events_append_only()`);
  }
}
