import { randomUUID } from 'node:crypto';
import { apiClient, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// accounting_code is derived from the config's accounting_code_mappings[expense_type]: the
// registry says so, and a record's own value of it is ignored out loud.
describe('the derived accounting_code (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  it('is listed by the registry with what it is derived from; the other fields are not derived', async () => {
    const res = await api.get('/v1/integration-types', await t.token('sync_service'));
    expect(res.status).toBe(200);
    for (const type of res.body.items.filter((i: { integration_type: string }) => ['xledger', 'dynamics', 'hlf_portal'].includes(i.integration_type))) {
      const fields: { name: string; derived_from: string | null }[] = type.source_fields;
      expect(fields.find((f) => f.name === 'accounting_code')).toEqual({
        name: 'accounting_code',
        type: 'string',
        non_null: false,
        path: null,
        derived_from: 'accounting_code_mappings[expense_type]',
      });
      expect(fields.filter((f) => f.derived_from !== null).map((f) => f.name)).toEqual(['accounting_code']);
    }
  });

  it("tells a mapping write that uses accounting_code while the config's accounting_code_mappings is empty", async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const config = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig());
    expect(config.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${config.body.id}`;
    const created = await api.post(`${path}/field-mappings`, token, { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999' });
    expect(created.status).toBe(201);
    expect(created.body.warnings).toEqual(['accounting_code_mappings_empty:AccountCode']);
    const bulk = await api.post(`${path}/field-mappings/bulk`, token, {
      items: [
        { source_field: 'expense_amount', target_field: 'Amount' },
        { source_field: 'cost_center', target_field: 'Dim', transform_type: 'computed', transform_config: { expression: 'concat(accounting_code, cost_center)' } },
      ],
    });
    expect(bulk.status).toBe(201);
    expect(bulk.body.items.map((m: { warnings: string[] }) => m.warnings)).toEqual([[], ['accounting_code_mappings_empty:Dim']]);
    const patched = await api.patch(`${path}/field-mappings/${created.body.id}`, token, { target_field: 'Account' });
    expect(patched.status).toBe(200);
    expect(patched.body.warnings).toEqual(['accounting_code_mappings_empty:Account']);
    // GET answers the mapping, not a write's warnings.
    expect((await api.get(`${path}/field-mappings/${created.body.id}`, token)).body.warnings).toBeUndefined();

    // Once the config maps expense types to codes, nothing to say.
    expect((await api.patch(path, token, { accounting_code_mappings: { travel_km: '4001' } })).status).toBe(200);
    const version = await api.post(`${path}/field-mappings/${created.body.id}/versions`, token, { target_field: 'AccountCode' });
    expect(version.status).toBe(201);
    expect(version.body.warnings).toEqual([]);
  });

  it("warns in previews and exports when a record's own accounting_code is ignored, instead of a silent null", async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const config = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ accounting_code_mappings: { travel_km: '4001' } }));
    expect(config.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${config.body.id}`;
    const mapped = await api.post(`${path}/field-mappings/bulk`, token, {
      items: [
        { source_field: 'expense_amount', target_field: 'Amount' },
        { source_field: 'expense_date', target_field: 'TransactionDate' },
        { source_field: 'accounting_code', target_field: 'AccountCode' },
        { source_field: 'cost_center', target_field: 'Dimension', transform_type: 'computed', transform_config: { expression: 'concat(accounting_code, "/", cost_center)' } },
      ],
    });
    expect(mapped.status).toBe(201);
    const base = { expense_amount: 10, expense_date: '2026-11-20', cost_center: 'CC1' };
    const warnings = ['record_accounting_code_ignored:AccountCode', 'record_accounting_code_ignored:Dimension'];

    // The field-mapping preview: an unmapped expense type with a code of the record's own (and the
    // null AccountCode Xledger's connector would refuse at delivery, as the export preview warns it).
    const unmapped = await api.post(`${path}/field-mappings/preview`, token, { record: { ...base, expense_type: 'parking', accounting_code: '7777' } });
    expect(unmapped.status).toBe(200);
    expect(unmapped.body).toMatchObject({
      output: { AccountCode: null },
      skipped_reason: null,
      warnings: [...warnings, 'delivery_would_refuse:0:AccountCode null is not an account code'],
    });
    const mappedType = await api.post(`${path}/field-mappings/preview`, token, { record: { ...base, expense_type: 'travel_km', accounting_code: '7777' } });
    expect(mappedType.body).toEqual({ output: { Amount: 10, TransactionDate: '2026-11-20', AccountCode: '4001', Dimension: '4001/CC1' }, skipped_reason: null, warnings });
    // A record without one of its own: nothing to warn about.
    expect((await api.post(`${path}/field-mappings/preview`, token, { record: { ...base, expense_type: 'travel_km' } })).body.warnings).toEqual([]);

    // Export preview and export: the same warnings, once each for the batch; and the parking row's
    // null AccountCode, which Xledger's connector would refuse at delivery (delivery_would_refuse).
    const exportWarnings = [...warnings, 'delivery_would_refuse:0:AccountCode null is not an account code'];
    const records = [
      { ...base, claim_id: randomUUID(), expense_type: 'parking', accounting_code: '7777' },
      { ...base, claim_id: randomUUID(), expense_type: 'travel_km', accounting_code: '8888' },
      { ...base, claim_id: randomUUID(), expense_type: 'travel_km' },
    ];
    const preview = await api.post(`${path}/exports/preview`, token, { records });
    expect(preview.status).toBe(200);
    expect(preview.body.warnings).toEqual(exportWarnings);
    expect(preview.body.rows.map((r: { output: { AccountCode: unknown } }) => r.output.AccountCode)).toEqual([null, '4001', '4001']);
    const run = await api.post(`${path}/exports`, token, { records });
    expect(run.status).toBe(201);
    expect(run.body.warnings).toEqual(exportWarnings);
    expect((await api.get(`${path}/exports/${run.body.id}`, token)).body.warnings).toEqual(exportWarnings);
  });
});
