import { randomUUID } from 'node:crypto';
import { apiClient, expectProblem, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

const KEY = 'Idempotency-Key';

// The POSTs that honour an Idempotency-Key, through HTTP on a real database.
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
});
