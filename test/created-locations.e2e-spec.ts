import { apiClient, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// A POST that makes a resource says where it is (Location): a GET there answers it, also when the
// answer is a replay of its Idempotency-Key. Answers that make no resource of their own say none.
describe('Location of what a POST made (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  /** The answer's Location, checked by reading it: the same resource. */
  async function followed(res: { status: number; headers: Record<string, string>; body: { id: string } }, token: string): Promise<string> {
    const location = res.headers['location'];
    expect(location).toMatch(/^\/v1\/organizations\//);
    const read = await api.get(location, token);
    expect([location, read.status, read.body.id]).toEqual([location, 200, res.body.id]);
    return location;
  }

  it('names the config, mapping, mapping version, export run and alert endpoint made; a replay names it too', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const base = `/v1/organizations/${org}/integrations`;
    const created = await api.post(base, token, xledgerConfig(), { 'Idempotency-Key': 'create-1' });
    expect(created.status).toBe(201);
    expect(await followed(created, token)).toBe(`${base}/${created.body.id}`);
    const replayed = await api.post(base, token, xledgerConfig(), { 'Idempotency-Key': 'create-1' });
    expect([replayed.headers['idempotent-replayed'], replayed.headers['location']]).toEqual(['true', created.headers['location']]);

    const config = `${base}/${created.body.id}`;
    const mapping = await api.post(`${config}/field-mappings`, token, { source_field: 'expense_amount', target_field: 'Amount' });
    expect(await followed(mapping, token)).toBe(`${config}/field-mappings/${mapping.body.id}`);
    const version = await api.post(`${config}/field-mappings/${mapping.body.id}/versions`, token, { is_required: true });
    expect(await followed(version, token)).toBe(`${config}/field-mappings/${version.body.id}`);

    // A batch of mappings is no one resource: no Location.
    const bulk = await api.post(`${config}/field-mappings/bulk`, token, {
      items: [
        { source_field: 'expense_date', target_field: 'TransactionDate' },
        { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999' },
      ],
    });
    expect([bulk.status, bulk.headers['location']]).toEqual([201, undefined]);

    const records = [{ claim_id: '7d1e4a52-0c1b-4f6e-9a57-3b2c1d0e9f8a', expense_type: 'travel_km', expense_amount: 12.5, expense_date: '2026-11-20' }];
    const exported = await api.post(`${config}/exports`, token, { records });
    expect(exported.status).toBe(201);
    expect(await followed(exported, token)).toBe(`${config}/exports/${exported.body.id}`);
    // Queued for delivery (202): where to follow it.
    const queued = await api.post(`${config}/exports`, token, { records, deliver: true }, { 'Idempotency-Key': 'export-1' });
    expect(queued.status).toBe(202);
    await followed(queued, token);
    expect((await api.post(`${config}/exports`, token, { records, deliver: true }, { 'Idempotency-Key': 'export-1' })).headers['location']).toBe(queued.headers['location']);

    const endpoint = await api.post(`/v1/organizations/${org}/alert-endpoints`, token, { url: 'https://ops.example.org/hooks' });
    expect(endpoint.status).toBe(201);
    expect(await followed(endpoint, token)).toBe(`/v1/organizations/${org}/alert-endpoints/${endpoint.body.id}`);

    // No resource of their own: a secret, a sync run there is no single read of.
    const secret = await api.post(`${config}/webhook-secret`, token);
    const syncRun = await api.post(`${config}/sync-runs`, token, { status: 'success', started_at: new Date().toISOString() });
    expect([secret, syncRun].map((res) => [res.status, res.headers['location']])).toEqual([
      [201, undefined],
      [201, undefined],
    ]);
  });
});
