import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import createClient from 'openapi-fetch';
import { Webhook } from 'standardwebhooks';
import type { paths } from '../client/meander-api';
import { startTestApp, type TestApp } from './support/test-app';

// A REST client as another team would write it: types generated from openapi.json by
// openapi-typescript (`npm run openapi`), calls made by openapi-fetch over real HTTP. A change of
// the API that breaks this flow fails `tsc` (npm test) before it fails a test.
describe('a client generated from openapi.json', () => {
  let t: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    t = await startTestApp();
    baseUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => t.close());

  it('drives config → mappings → coverage → export → sync run → webhook', async () => {
    const org_id = randomUUID();
    const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${await t.token('org_admin', org_id)}` } });
    const sync = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${await t.token('sync_service')}` } });

    const types = await admin.GET('/v1/integration-types');
    const xledger = types.data?.items.find((type) => type.integration_type === 'xledger');
    expect(xledger?.required_target_fields.length).toBeGreaterThan(0);

    const created = await admin.POST('/v1/organizations/{org_id}/integrations', {
      params: { path: { org_id } },
      body: {
        integration_type: 'xledger',
        display_name: 'Xledger production',
        base_url: 'https://api.xledger.example/graphql',
        api_key: 'xl-secret',
        enabled: true,
        sync_frequency: 'daily',
      },
    });
    expect(created.response.status).toBe(201);
    const config = created.data!;
    expect(config).toMatchObject({ has_api_key: true, enabled: true });
    expect(created.response.headers.get('etag')).toBe(`"${config.revision}"`);

    const refused = await admin.POST('/v1/organizations/{org_id}/integrations', {
      params: { path: { org_id } },
      body: { integration_type: 'hlf_portal', display_name: 'HLF', base_url: 'http://insecure.example' },
    });
    expect(refused.response.status).toBe(400);
    expect(refused.error?.errors?.map((e) => e.rule)).toContain('base_url_must_be_https');

    const path = { org_id, integration_id: config.id };
    const before = await admin.GET('/v1/organizations/{org_id}/integrations/{integration_id}/field-mappings/coverage', { params: { path } });
    expect(before.data?.complete).toBe(false);

    const mapped = await admin.POST('/v1/organizations/{org_id}/integrations/{integration_id}/field-mappings/bulk', {
      params: { path },
      body: {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount', transform_type: 'format', transform_config: { format: '0.00' }, is_required: true },
          { source_field: 'expense_date', target_field: 'TransactionDate', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' }, is_required: true },
          {
            source_field: 'expense_type',
            target_field: 'AccountCode',
            transform_type: 'lookup',
            transform_config: { map: { travel_km: '4001' } },
            default_value: '4999',
            is_required: true,
          },
        ],
      },
    });
    expect(mapped.response.status).toBe(201);
    expect(mapped.data?.items).toHaveLength(3);
    const after = await admin.GET('/v1/organizations/{org_id}/integrations/{integration_id}/field-mappings/coverage', { params: { path } });
    expect(after.data).toEqual({ complete: true, missing_target_fields: [], warnings: [] });

    const records = [
      { claim_id: 'c1', expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20' },
      { claim_id: 'c2', expense_type: 'meal', expense_amount: 80, expense_date: '2026-11-21' },
    ];
    const preview = await sync.POST('/v1/organizations/{org_id}/integrations/{integration_id}/exports/preview', { params: { path }, body: { records } });
    expect(preview.data?.rows.map((row) => row.output)).toEqual([
      { Amount: '120.50', TransactionDate: '20.11.2026', AccountCode: '4001' },
      { Amount: '80.00', TransactionDate: '21.11.2026', AccountCode: '4999' },
    ]);
    const run = await sync.POST('/v1/organizations/{org_id}/integrations/{integration_id}/exports', { params: { path }, body: { records } });
    expect(run.response.status).toBe(201);
    expect(run.data).toMatchObject({ status: 'completed', row_count: 2, skipped_count: 0 });
    const stored = await admin.GET('/v1/organizations/{org_id}/integrations/{integration_id}/exports/{id}', { params: { path: { ...path, id: run.data!.id } } });
    expect(stored.data?.rows).toEqual(preview.data?.rows);

    const started = new Date(Date.now() - 5_000).toISOString();
    const recorded = await sync.POST('/v1/organizations/{org_id}/integrations/{id}/sync-runs', {
      params: { path: { org_id, id: config.id } },
      body: { status: 'success', started_at: started, records_pushed: 2 },
    });
    expect(recorded.response.status).toBe(201);
    const runs = await admin.GET('/v1/organizations/{org_id}/integrations/{id}/sync-runs', { params: { path: { org_id, id: config.id }, query: { limit: 10 } } });
    expect(runs.data?.items.map((r) => r.status)).toEqual(['success']);
    const reread = await admin.GET('/v1/organizations/{org_id}/integrations/{id}', { params: { path: { org_id, id: config.id } } });
    expect(reread.data).toMatchObject({ last_sync_status: 'success', last_sync_at: expect.any(String) });

    const secret = await admin.POST('/v1/organizations/{org_id}/integrations/{id}/webhook-secret', { params: { path: { org_id, id: config.id } } });
    expect(secret.data?.webhook_secret).toMatch(/^whsec_/);
    const payload = '{"type":"expense.approved","data":{"claim_id":"c1"}}';
    const webhookId = `msg_${randomUUID()}`;
    const timestamp = new Date();
    const delivered = await createClient<paths>({ baseUrl }).POST('/v1/webhooks/{integration_id}', {
      params: {
        path: { integration_id: config.id },
        header: { 'webhook-id': webhookId, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)) },
      },
      headers: { 'webhook-signature': new Webhook(secret.data!.webhook_secret).sign(webhookId, timestamp, payload) },
      body: payload,
      bodySerializer: (body) => body,
    });
    expect(delivered.response.status).toBe(202);
    const events = await admin.GET('/v1/organizations/{org_id}/integrations/{id}/webhook-events', { params: { path: { org_id, id: config.id } } });
    expect(events.data?.items.map((e) => ({ webhook_id: e.webhook_id, payload: e.payload }))).toEqual([{ webhook_id: webhookId, payload }]);
  });
});
