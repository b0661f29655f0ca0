// The mapping engine's security review: reserved target names, formulas refused by our own
// grammar (not filtrex's), and the export bound counted as UTF-8 JSON.
import { apiClient, expectProblem, rulesOf, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

describe('mapping safety (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  async function setup() {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ api_key: 'k', enabled: true, accounting_code_mappings: { travel_km: '4001' } }));
    expect(res.status).toBe(201);
    const configPath = `/v1/organizations/${org}/integrations/${res.body.id}`;
    return { token, configPath, mappingsPath: `${configPath}/field-mappings` };
  }

  it('refuses a target_field that reaches JavaScript prototypes: 400 target_field_must_not_be_reserved, on create, bulk, update and new version', async () => {
    const { token, mappingsPath } = await setup();
    for (const target of ['__proto__', 'constructor', 'prototype', ' __proto__ ']) {
      const res = await api.post(mappingsPath, token, { source_field: 'currency', target_field: target });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res)).toEqual(['target_field:target_field_must_not_be_reserved']);
      expect(res.body.errors[0].message).toBe('target_field must not be __proto__, constructor, prototype');
    }
    const bulk = await api.post(`${mappingsPath}/bulk`, token, {
      items: [
        { source_field: 'currency', target_field: 'Currency' },
        { source_field: 'description', target_field: '__proto__' },
      ],
    });
    expectProblem(bulk, 400, 'validation_failed');
    expect(rulesOf(bulk)).toEqual(['items[1].target_field:target_field_must_not_be_reserved']);

    const created = await api.post(mappingsPath, token, { source_field: 'currency', target_field: 'Currency' });
    expect(created.status).toBe(201);
    const patch = await api.patch(`${mappingsPath}/${created.body.id}`, token, { target_field: 'constructor' });
    expectProblem(patch, 400, 'validation_failed');
    expect(rulesOf(patch)).toEqual(['target_field:target_field_must_not_be_reserved']);
    const version = await api.post(`${mappingsPath}/${created.body.id}/versions`, token, { target_field: '__proto__' });
    expectProblem(version, 400, 'validation_failed');
    expect(rulesOf(version)).toEqual(['target_field:target_field_must_not_be_reserved']);
    // Names that merely contain them are fine.
    expect((await api.post(mappingsPath, token, { source_field: 'description', target_field: 'Constructor' })).status).toBe(201);
  });

  it("refuses them as targets of a config's field_mappings shorthand too, on create and PATCH; nothing is stored", async () => {
    const { token, configPath, mappingsPath } = await setup();
    const before = (await api.get(mappingsPath, token)).body.items;
    const patched = await api.patch(configPath, token, { field_mappings: { currency: 'Currency', description: ' __proto__ ' } });
    expectProblem(patched, 400, 'validation_failed');
    expect(rulesOf(patched)).toEqual(['field_mappings.description:target_field_must_not_be_reserved']);
    expect((await api.get(mappingsPath, token)).body.items).toEqual(before);
    const org = newOrgId();
    const created = await api.post(`/v1/organizations/${org}/integrations`, await t.token('org_admin', org), {
      integration_type: 'xledger',
      display_name: 'X',
      field_mappings: { expense_amount: 'constructor' },
    });
    expectProblem(created, 400, 'validation_failed');
    expect(rulesOf(created)).toEqual(['field_mappings.expense_amount:target_field_must_not_be_reserved']);
    expect((await api.get(`/v1/organizations/${org}/integrations`, await t.token('org_admin', org))).body.items).toEqual([]);
  });

  it('refuses a keyword where an operand belongs, saying what and where (filtrex read it as a field: null, no warning)', async () => {
    const { token, mappingsPath } = await setup();
    const cases: [string, string][] = [
      ['toll_amount + and', 'expected an operand but found the keyword and at position 14'],
      ['expense_amount + if', 'expected an operand but found the end of the expression (position 19)'],
      ['1e3', 'a number takes no exponent: 1e3 at position 0 (write the number out in full)'],
    ];
    for (const [expression, message] of cases) {
      const res = await api.post(mappingsPath, token, { source_field: 'expense_amount', target_field: 'X', transform_type: 'computed', transform_config: { expression } });
      expectProblem(res, 422, 'transform_config_must_match_transform_type');
      expect(res.body.errors).toEqual([{ field: 'transform_config.expression', rule: 'transform_config_must_match_transform_type', message }]);
    }
    const ok = await api.post(mappingsPath, token, {
      source_field: 'expense_amount',
      target_field: 'X',
      transform_type: 'computed',
      transform_config: { expression: 'if(expense_amount > 100) then-1 else concat("a\\tb")' },
    });
    expect(ok.status).toBe(201);
    const preview = await api.post(`${mappingsPath}/preview`, token, { record: { expense_amount: 120 } });
    expect(preview.status).toBe(200);
    expect(preview.body.output).toEqual({ X: -1 });
  });

  it('bounds the export output by its UTF-8 JSON size: 9 mappings of 1M "€" are 27 MB, not 9M characters', async () => {
    const { token, configPath, mappingsPath } = await setup();
    const sources = ['currency', 'description', 'cost_center', 'project_code', 'receipt_url', 'expense_type', 'activity_id', 'approved_by', 'peer_mentor_id'];
    const items = sources.map((source_field, i) => ({ source_field, target_field: `T${i}`, source_field_path: 'notes.text' }));
    expect((await api.post(`${mappingsPath}/bulk`, token, { items })).status).toBe(201);
    const res = await api.post(`${configPath}/exports/preview`, token, { records: [{ notes: { text: '€'.repeat(1_000_000) } }] });
    expectProblem(res, 422, 'export_output_within_bounds');
  });

  it('keeps free-form JSON as sent: keys named like inherited methods (toString, valueOf) are neither dropped nor misjudged', async () => {
    const { token, configPath, mappingsPath } = await setup();
    // A lookup map with such keys is stored whole, and looks them up.
    const lookup = await api.post(mappingsPath, token, {
      source_field: 'expense_type',
      target_field: 'Kind',
      transform_type: 'lookup',
      transform_config: { map: { toString: 'T', valueOf: 'V', travel_km: 'K' } },
    });
    expect(lookup.status).toBe(201);
    expect(lookup.body.transform_config).toEqual({ map: { toString: 'T', valueOf: 'V', travel_km: 'K' } });
    expect((await api.post(`${mappingsPath}/preview`, token, { record: { expense_type: 'valueOf' } })).body.output).toEqual({ Kind: 'V' });
    // A map of only such a key is a map, not an empty one.
    const only = await api.patch(`${mappingsPath}/${lookup.body.id}`, token, { transform_config: { map: { hasOwnProperty: 'H' } } });
    expect(only.status).toBe(200);
    expect(only.body.transform_config).toEqual({ map: { hasOwnProperty: 'H' } });
    // The one-record preview reads a record as the export preview does.
    expect((await api.post(mappingsPath, token, { source_field: 'description', target_field: 'Text' })).status).toBe(201);
    const record = { expense_type: 'hasOwnProperty', description: { toString: 'a', valueOf: 'b', note: 'n' } };
    const one = await api.post(`${mappingsPath}/preview`, token, { record });
    const many = await api.post(`${configPath}/exports/preview`, token, { records: [record] });
    expect(one.body.output).toEqual({ Kind: 'H', Text: { toString: 'a', valueOf: 'b', note: 'n' } });
    expect(many.body.rows[0].output).toEqual(one.body.output);
    // A config's extra_config too.
    const patched = await api.patch(configPath, token, { extra_config: { toString: 'kept', company_code: '1001' } });
    expect(patched.status).toBe(200);
    expect(patched.body.extra_config).toEqual({ toString: 'kept', company_code: '1001' });
  });

  it('warns duplicate_target_field when two active mappings write one target (the later overwrites the other in every row)', async () => {
    const { token, configPath, mappingsPath } = await setup();
    const made = await api.post(`${mappingsPath}/bulk`, token, {
      items: [
        { source_field: 'expense_amount', target_field: 'Amount' },
        { source_field: 'toll_amount', target_field: 'Amount' },
      ],
    });
    expect(made.status).toBe(201);
    expect((await api.get(`${mappingsPath}/coverage`, token)).body.warnings).toEqual(['duplicate_target_field:Amount']);
    const preview = await api.post(`${configPath}/exports/preview`, token, { records: [{ expense_amount: 100, toll_amount: null }] });
    expect(preview.body.warnings).toContain('duplicate_target_field:Amount');
    expect(preview.body.rows[0].output).toEqual({ Amount: null });
    // Deactivated, the warning goes.
    expect((await api.patch(`${mappingsPath}/${made.body.items[1].id}`, token, { is_active: false })).status).toBe(200);
    expect((await api.get(`${mappingsPath}/coverage`, token)).body.warnings).toEqual([]);
  });
});
