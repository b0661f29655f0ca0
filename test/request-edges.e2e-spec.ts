import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Connector, ConnectorContext, DeliveryRow, RowOutcome } from '../src/sync/connector';
import { type ApiClient, apiClient, expectProblem, expenseClaim, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// API.md: "Unknown request fields are rejected (400), never silently stored". A body field of a
// route that takes none, and a query parameter of a route that reads none, are unknown fields too:
// each is refused, and nothing the request asked for happens.

/** Delivers nothing; its connection test fails without leaving the machine. */
class OfflineConnector implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = 100;
  async deliver(_context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    return rows.map((row) => ({ index: row.index, status: 'failed', error: 'offline' }));
  }
  async testConnection(): Promise<void> {
    throw new Error('offline');
  }
}

const MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
];
const unknown = (field: string) => [{ field, rule: 'unknown_field', message: `${field} is not a known field` }];

describe('request edges: fields a route does not read are refused', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp({ connectors: [new OfflineConnector()] });
    api = apiClient(t);
  });
  afterAll(() => t.close());

  async function config(token: string, org: string, extra: Record<string, unknown> = {}) {
    const created = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig(extra));
    expect(created.status).toBe(201);
    return { id: created.body.id as string, path: `/v1/organizations/${org}/integrations/${created.body.id}` };
  }

  it('POST …/sync and …/connection-test refuse any body field (400 unknown_field), and take no body or {}', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const { path } = await config(admin, org);

    for (const route of ['sync', 'connection-test']) {
      const refused = await api.post(`${path}/${route}`, admin, { foo: 1 });
      expectProblem(refused, 400, 'validation_failed');
      expect(refused.body.errors).toEqual(unknown('foo'));
    }
    // No body at all (no Content-Type either), and an empty object.
    const bare = await t.http.post(`${path}/sync`).set('Authorization', `Bearer ${admin}`);
    expect([bare.status, bare.body]).toEqual([202, { queued_runs: 0 }]);
    expect((await api.post(`${path}/sync`, admin, {})).status).toBe(202);
    const tested = await t.http.post(`${path}/connection-test`).set('Authorization', `Bearer ${admin}`);
    expect([tested.status, tested.body.ok]).toEqual([200, false]);
    expect((await api.post(`${path}/connection-test`, admin, {})).status).toBe(200);
  });

  it('write routes refuse a query parameter (400 unknown_field, named as read routes name it) and do nothing', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const sync = await t.token('sync_service');
    const { id, path } = await config(admin, org);
    expect((await api.post(`${path}/field-mappings/bulk`, admin, { items: MAPPINGS })).status).toBe(201);
    const { revision } = (await api.get(path, admin)).body;

    // `deliver` belongs in the body: in the query it would have answered 201 completed, nothing queued.
    const exported = await api.post(`${path}/exports?deliver=true`, sync, { records: [expenseClaim()] });
    expectProblem(exported, 400, 'validation_failed');
    expect(exported.body.errors).toEqual(unknown('deliver'));
    expect((await api.get(`${path}/exports`, admin)).body.items).toEqual([]);

    const patched = await api.patch(`${path}?enabled=false`, admin, { display_name: 'Renamed' });
    expect(patched.body.errors).toEqual(unknown('enabled'));
    expect((await api.get(path, admin)).body).toMatchObject({ display_name: 'X', enabled: true, revision });

    const recorded = await api.post(`${path}/sync-runs?x=1`, sync, { status: 'success', started_at: '2026-11-22T10:00:00Z' });
    expect(recorded.body.errors).toEqual(unknown('x'));
    expect((await api.get(`${path}/sync-runs`, admin)).body.items).toEqual([]);

    const removed = await api.delete(`${path}?force=true`, admin);
    expect(removed.body.errors).toEqual(unknown('force'));
    expect((await api.get(path, admin)).status).toBe(200);

    // Several parameters: each is named, as a read names them.
    const several = await api.post(`${path}/sync?now=1&all=true`, admin);
    expect(several.body.errors).toEqual([...unknown('now'), ...unknown('all')]);

    // The same requests without the query string do what they say.
    expect((await api.post(`${path}/exports`, sync, { records: [expenseClaim()], deliver: true })).status).toBe(202);
    expect((await api.patch(path, admin, { display_name: 'Renamed' })).status).toBe(200);
    expect((await api.delete(path, admin)).status).toBe(204);
    expect((await api.get(`/v1/organizations/${org}/audit-events?resource_id=${id}&action=integration_config.deleted`, admin)).body.items).toHaveLength(1);
  });

  it('the inbound webhook is the exception: a query string a sender appends to its URL is ignored, never stored', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const { id, path } = await config(admin, org, { webhook_url: 'https://x.example/hooks', webhook_secret: secret });
    const body = '{"type":"expense.approved"}';
    const webhookId = `msg_${randomUUID()}`;
    const now = new Date();
    const res = await t.http
      .post(`/v1/webhooks/${id}?source=xledger`)
      .set('webhook-id', webhookId)
      .set('webhook-timestamp', String(Math.floor(now.getTime() / 1000)))
      .set('webhook-signature', new Webhook(secret).sign(webhookId, now, body))
      .set('content-type', 'application/json')
      .send(body);
    expect(res.status).toBe(202);
    expect((await api.get(`${path}/webhook-events`, admin)).body.items.map((e: { payload: string }) => e.payload)).toEqual([body]);
  });
});
