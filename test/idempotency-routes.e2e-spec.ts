import { randomUUID } from 'node:crypto';
import { apiClient, expectProblem, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

const KEY = 'Idempotency-Key';

// Which POSTs honour an Idempotency-Key and which refuse it (test/routes.e2e-spec.ts lists them
// all): a key is never silently ignored. Here each one's answer, through HTTP on a real database.
describe('Idempotency-Key, route by route (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  const one = async (sql: string, params: unknown[]) => (await t.dataSource.query(sql, params))[0];
  const count = async (sql: string, params: unknown[]) => (await one(sql, params)).n as number;
  const mappingsOf = (integrationId: string) => count(`SELECT count(*)::int AS n FROM field_mappings WHERE integration_id = $1`, [integrationId]);
  const eventsOf = (org: string, action: string) => count(`SELECT count(*)::int AS n FROM audit_events WHERE organization_id = $1 AND action = $2`, [org, action]);

  async function config(extra: Record<string, unknown> = {}) {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const body = { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'xl-key-0123456789', enabled: true, ...extra };
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, body);
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    return { org, token, id, path: `/v1/organizations/${org}/integrations/${id}` };
  }

  /** The same request twice with one key: the second is the first's answer, replayed. */
  async function twice(path: string, token: string, body: unknown) {
    const key = randomUUID();
    const first = await api.post(path, token, body, { [KEY]: key });
    const again = await api.post(path, token, body, { [KEY]: key });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect({ status: again.status, replayed: again.headers['idempotent-replayed'], text: again.text, location: again.headers.location }).toEqual({
      status: first.status,
      replayed: 'true',
      text: first.text,
      location: first.headers.location,
    });
    return first;
  }

  describe('honoured: the field-mapping writes and sync-now run once under a key', () => {
    it('POST field-mappings creates one mapping; the replay says where it is (Location)', async () => {
      const { token, id, path } = await config();
      const first = await twice(`${path}/field-mappings`, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect(first.status).toBe(201);
      expect(first.headers.location).toBe(`${path}/field-mappings/${first.body.id}`);
      expect(await mappingsOf(id)).toBe(1);
      // Without a key, as before: a new request.
      expect((await api.post(`${path}/field-mappings`, token, { source_field: 'expense_date', target_field: 'TransactionDate' })).status).toBe(201);
      expect(await mappingsOf(id)).toBe(2);
    });

    it('POST field-mappings/bulk creates its items once', async () => {
      const { token, id, path } = await config();
      const items = [
        { source_field: 'expense_amount', target_field: 'Amount' },
        { source_field: 'expense_date', target_field: 'TransactionDate' },
      ];
      expect((await twice(`${path}/field-mappings/bulk`, token, { items })).status).toBe(201);
      expect(await mappingsOf(id)).toBe(2);
      expect((await api.post(`${path}/field-mappings/bulk`, token, { items: [{ source_field: 'currency', target_field: 'CurrencyCode' }] })).status).toBe(201);
      expect(await mappingsOf(id)).toBe(3);
    });

    it('POST field-mappings/{id}/versions makes one new version; the replay says where it is (Location)', async () => {
      const { token, id, path } = await config();
      const created = await api.post(`${path}/field-mappings`, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect(created.status).toBe(201);
      const first = await twice(`${path}/field-mappings/${created.body.id}/versions`, token, { target_field: 'Amount2' });
      expect({ status: first.status, version: first.body.version }).toEqual({ status: 201, version: 2 });
      expect(first.headers.location).toBe(`${path}/field-mappings/${first.body.id}`);
      expect(await mappingsOf(id)).toBe(2);
      // Without a key, as before: a version of the current one.
      expect((await api.post(`${path}/field-mappings/${first.body.id}/versions`, token, { target_field: 'Amount3' })).status).toBe(201);
      expect(await mappingsOf(id)).toBe(3);
    });

    it("a key's request is its path ids and body: another mapping or another body under the same key is 422, and writes nothing", async () => {
      const { token, id, path } = await config();
      const bulk = await api.post(`${path}/field-mappings/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount' },
          { source_field: 'expense_date', target_field: 'TransactionDate' },
        ],
      });
      expect(bulk.status).toBe(201);
      const [a, b] = bulk.body.items.map((m: { id: string }) => m.id);
      const key = randomUUID();
      expect((await api.post(`${path}/field-mappings/${a}/versions`, token, { display_label: 'L' }, { [KEY]: key })).status).toBe(201);
      expectProblem(await api.post(`${path}/field-mappings/${b}/versions`, token, { display_label: 'L' }, { [KEY]: key }), 422, 'idempotency_key_reused_with_other_request');
      expectProblem(await api.post(`${path}/field-mappings/${a}/versions`, token, { display_label: 'M' }, { [KEY]: key }), 422, 'idempotency_key_reused_with_other_request');
      expect(await mappingsOf(id)).toBe(3);
    });

    it('POST sync requests a delivery once: one delivery.requested, the 202 replayed', async () => {
      const { org, token, path } = await config();
      const first = await twice(`${path}/sync`, token, {});
      expect(first.status).toBe(202);
      expect(await eventsOf(org, 'delivery.requested')).toBe(1);
      expect((await api.post(`${path}/sync`, token, {})).status).toBe(202);
      expect(await eventsOf(org, 'delivery.requested')).toBe(2);
    });
  });

  describe('refused: a route whose answer is a secret shown once takes no key (400), and runs nothing', () => {
    const refused = (res: Awaited<ReturnType<ApiClient['post']>>) => {
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([{ field: 'Idempotency-Key', rule: 'idempotency_key_not_supported', message: expect.stringContaining('never stored') }]);
      expect(JSON.stringify(res.body)).not.toMatch(/whsec_/);
    };

    it('POST alert-endpoints: no endpoint is registered, and the refusal says how to find one a lost answer created', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const base = `/v1/organizations/${org}/alert-endpoints`;
      const endpoints = () => count(`SELECT count(*)::int AS n FROM alert_endpoints WHERE organization_id = $1`, [org]);
      const res = await api.post(base, token, { url: 'https://ops.example/alerts' }, { [KEY]: randomUUID() });
      refused(res);
      expect(res.body.errors[0].message).toMatch(/list the alert endpoints .*rotate its signing secret/);
      expect(await endpoints()).toBe(0);
      expect(await eventsOf(org, 'alert_endpoint.created')).toBe(0);
      // Refused whatever the key (a malformed one too), and only once the caller may call the route.
      refused(await api.post(base, token, { url: 'https://ops.example/alerts' }, { [KEY]: 'two words' }));
      expectProblem(await api.post(base, null, { url: 'https://ops.example/alerts' }, { [KEY]: randomUUID() }), 401, 'unauthorized');
      expectProblem(await api.post(base, await t.token('sync_service'), { url: 'https://ops.example/alerts' }, { [KEY]: randomUUID() }), 403, 'forbidden');
      // Without a key, as before.
      const created = await api.post(base, token, { url: 'https://ops.example/alerts' });
      expect(created.status).toBe(201);
      expect(created.body.signing_secret).toMatch(/^whsec_/);
      expect(await endpoints()).toBe(1);
      expect(await count(`SELECT count(*)::int AS n FROM idempotency_keys WHERE organization_id = $1`, [org])).toBe(0);
    });

    it('POST alert-endpoints/{id}/signing-secret: the secret is not rotated', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const created = await api.post(`/v1/organizations/${org}/alert-endpoints`, token, { url: 'https://ops.example/alerts' });
      expect(created.status).toBe(201);
      const path = `/v1/organizations/${org}/alert-endpoints/${created.body.id}/signing-secret`;
      const stored = async () => (await one(`SELECT signing_secret_encrypted AS s FROM alert_endpoints WHERE id = $1`, [created.body.id])).s as string;
      const before = await stored();
      refused(await api.post(path, token, {}, { [KEY]: randomUUID() }));
      expect(await stored()).toBe(before);
      expect(await eventsOf(org, 'alert_endpoint.secret_rotated')).toBe(0);
      const rotated = await api.post(path, token, {});
      expect(rotated.status).toBe(201);
      expect(rotated.body.signing_secret).not.toBe(created.body.signing_secret);
      expect(await stored()).not.toBe(before);
    });

    it('POST integrations/{id}/webhook-secret: the secret is not rotated', async () => {
      const { org, token, id, path } = await config({ webhook_url: 'https://x.example/hooks', webhook_secret: `whsec_${'A'.repeat(32)}` });
      const stored = async () => one(`SELECT webhook_secret_encrypted AS s, previous_webhook_secret_encrypted AS p FROM integration_configs WHERE id = $1`, [id]);
      const before = await stored();
      refused(await api.post(`${path}/webhook-secret`, token, {}, { [KEY]: randomUUID() }));
      expect(await stored()).toEqual(before);
      expect(await eventsOf(org, 'integration_config.webhook_secret_rotated')).toBe(0);
      const rotated = await api.post(`${path}/webhook-secret`, token, {});
      expect(rotated.status).toBe(201);
      expect(rotated.body.webhook_secret).toMatch(/^whsec_/);
      expect((await stored()).s).not.toBe(before.s);
    });
  });
});
