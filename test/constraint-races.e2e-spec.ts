import { randomBytes, randomUUID } from 'node:crypto';
import type { QueryRunner } from 'typeorm';
import { Webhook } from 'standardwebhooks';
import { apiClient, expectProblem, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// Each database constraint the service maps to a rule, reached past the service's own check: a
// second writer holds the conflicting change uncommitted while the service checks (and sees
// nothing), commits once the service's statement waits on it, and the constraint decides.
describe('constraint races (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  let writer: QueryRunner;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  beforeEach(async () => {
    writer = t.dataSource.createQueryRunner();
    await writer.connect();
    await writer.startTransaction();
  });
  afterEach(async () => {
    if (writer.isTransactionActive) await writer.rollbackTransaction();
    await writer.release();
  });
  afterAll(() => t.close());

  /** Resolves once another session of this database waits for a lock (the service's statement). */
  async function serviceWaitsOnLock(): Promise<void> {
    for (let waited = 0; waited < 10_000; waited += 20) {
      const [{ n }] = await t.dataSource.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      if (n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the service never waited on the uncommitted change');
  }

  async function xledgerConfig(org: string, token: string, extra: Record<string, unknown> = {}) {
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, {
      integration_type: 'xledger',
      display_name: 'X',
      base_url: 'https://x.example',
      api_key: 'xl-key-0123456789',
      ...extra,
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  it('one_config_per_integration_type_per_org: a create racing another writer is a 409 naming the winner', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const winner = randomUUID();
    await writer.query(`INSERT INTO integration_configs (id, organization_id, integration_type, display_name, created_by) VALUES ($1, $2, 'xledger', 'other writer', $3)`, [
      winner,
      org,
      randomUUID(),
    ]);
    const create = api.post(`/v1/organizations/${org}/integrations`, token, { integration_type: 'xledger', display_name: 'X' });
    await serviceWaitsOnLock();
    await writer.commitTransaction();
    const res = await create;
    expectProblem(res, 409, 'one_config_per_integration_type_per_org');
    expect(res.body.detail).toContain(winner);
  });

  it('unique_source_field_per_integration: a mapping racing a writer that took no config lock is a 409, not a 500', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const integrationId = await xledgerConfig(org, token);
    const mappings = `/v1/organizations/${org}/integrations/${integrationId}/field-mappings`;
    // Left behind: only a superseded version of the expense_amount mapping.
    const first = await api.post(mappings, token, { source_field: 'expense_amount', target_field: 'Amount' });
    const second = await api.post(`${mappings}/${first.body.id}/versions`, token, { target_field: 'Beløp' });
    expect((await api.delete(`${mappings}/${second.body.id}`, token)).status).toBe(204);
    // Another writer (a script, an older instance) makes it current again without locking the
    // config row, so the service's check does not see it and its INSERT waits on the index.
    await writer.query(`UPDATE field_mappings SET superseded_at = NULL, is_active = true WHERE organization_id = $1 AND id = $2`, [org, first.body.id]);
    const create = api.post(mappings, token, { source_field: 'expense_amount', target_field: 'Sum' });
    await serviceWaitsOnLock();
    await writer.commitTransaction();
    const res = await create;
    expectProblem(res, 409, 'unique_source_field_per_integration');
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'source_field', rule: 'unique_source_field_per_integration' })]);
    const [{ n }] = await t.dataSource.query(`SELECT count(*)::int AS n FROM field_mappings WHERE integration_id = $1 AND superseded_at IS NULL`, [integrationId]);
    expect(n).toBe(1);
  });

  it('a webhook delivery whose config is deleted while it is verified is a 404, not a 500', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const integrationId = await xledgerConfig(org, token, { enabled: true, webhook_secret: secret });
    await writer.query(`DELETE FROM integration_configs WHERE organization_id = $1 AND id = $2`, [org, integrationId]);
    const body = '{"event":"invoice.posted"}';
    const webhookId = `msg_${randomBytes(8).toString('hex')}`;
    const sentAt = new Date();
    const delivery = t.http
      .post(`/v1/webhooks/${integrationId}`)
      .set('webhook-id', webhookId)
      .set('webhook-timestamp', String(Math.floor(sentAt.getTime() / 1000)))
      // Signed by the reference library, as the sender would.
      .set('webhook-signature', new Webhook(secret).sign(webhookId, sentAt, body))
      .set('Content-Type', 'application/json')
      .send(body)
      .then((res) => res);
    await serviceWaitsOnLock();
    await writer.commitTransaction();
    const res = await delivery;
    expectProblem(res, 404, 'not_found');
    const [{ n }] = await t.dataSource.query(`SELECT count(*)::int AS n FROM webhook_events WHERE integration_id = $1`, [integrationId]);
    expect(n).toBe(0);
  });
});
