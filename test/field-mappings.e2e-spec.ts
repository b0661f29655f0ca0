import { randomUUID } from 'node:crypto';
import { apiClient, expectProblem, rulesOf, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

/** Lowercase, and still not snake_case (src/common/validators.ts SNAKE_CASE). */
const NOT_SNAKE_CASE = ['expense-amount', 'expense__amount', 'expense_', '1st_field', '_x'];

describe('field mappings (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  /** A fresh organization with one config of the type, and the paths under it. */
  async function setup(type = 'xledger', extra: Record<string, unknown> = {}) {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, { integration_type: type, display_name: type, ...extra });
    expect(res.status).toBe(201);
    const configPath = `/v1/organizations/${org}/integrations/${res.body.id}`;
    return { org, token, configId: res.body.id as string, configPath, path: `${configPath}/field-mappings` };
  }

  const usedInExport = (id: string) => t.dataSource.query(`UPDATE field_mappings SET used_in_export = true WHERE id = $1`, [id]);

  describe('create, read, list', () => {
    it('creates a mapping with the documented defaults', async () => {
      const { path, token, configId } = await setup();
      const res = await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        integration_id: configId,
        source_field: 'expense_amount',
        target_field: 'Amount',
        transform_type: 'direct',
        transform_config: null,
        default_value: null,
        is_required: false,
        source_field_path: null,
        display_label: 'expense_amount',
        sort_order: 0,
        is_active: true,
        version: 1,
        previous_version_id: null,
        used_in_export: false,
      });
      expect(Object.keys(res.body).sort()).toEqual([
        'created_at',
        'default_value',
        'display_label',
        'id',
        'integration_id',
        'is_active',
        'is_required',
        'previous_version_id',
        'sort_order',
        'source_field',
        'source_field_path',
        'target_field',
        'transform_config',
        'transform_type',
        'updated_at',
        'used_in_export',
        'version',
        'warnings',
      ]);
      const second = await api.post(path, token, {
        source_field: 'expense_date',
        target_field: 'TransactionDate',
        transform_type: 'format',
        transform_config: { format: 'dd.MM.yyyy' },
      });
      expect(second.body.sort_order).toBe(1);
      // A write's answer adds its warnings to the mapping that GET answers.
      const { warnings, ...mapping } = res.body;
      expect(warnings).toEqual([]);
      expect((await api.get(`${path}/${res.body.id}`, token)).body).toEqual(mapping);
    });

    it('lists by sort_order then source_field, filtered by is_active', async () => {
      const { path, token } = await setup();
      await api.post(path, token, { source_field: 'expense_date', target_field: 'B', sort_order: 5 });
      await api.post(path, token, { source_field: 'currency', target_field: 'C', sort_order: 5, is_active: false });
      await api.post(path, token, { source_field: 'expense_amount', target_field: 'A', sort_order: 1 });
      const all = await api.get(path, token);
      expect(all.body.items.map((m: { source_field: string }) => m.source_field)).toEqual(['expense_amount', 'currency', 'expense_date']);
      expect(all.body.next_cursor).toBeNull();
      const active = await api.get(`${path}?is_active=true`, token);
      expect(active.body.items.map((m: { source_field: string }) => m.source_field)).toEqual(['expense_amount', 'expense_date']);
      const inactive = await api.get(`${path}?is_active=false`, token);
      expect(inactive.body.items.map((m: { source_field: string }) => m.source_field)).toEqual(['currency']);
      expect((await api.get(`${path}?is_active=maybe`, token)).status).toBe(400);
    });
  });

  describe('validation rules (400)', () => {
    it('reports each rule by name, all at once', async () => {
      const { path, token } = await setup();
      const res = await api.post(path, token, {
        source_field: 'ExpenseAmount',
        target_field: '  ',
        transform_type: 'magic',
        default_value: '',
        source_field_path: 'expense_line',
        sort_order: -1,
      });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res).sort()).toEqual([
        'default_value:default_value_length_within_bounds',
        'sort_order:sort_order_non_negative',
        'source_field:source_field_snake_case',
        'source_field_path:source_field_path_valid_dot_notation',
        'target_field:target_field_non_empty',
        'transform_type:transform_type_is_valid_enum',
      ]);
    });

    it('source_field_snake_case: refuses lowercase names that are not snake_case, on create and PATCH', async () => {
      const { path, token } = await setup();
      const made = await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect(made.status).toBe(201);
      for (const source_field of NOT_SNAKE_CASE) {
        const created = await api.post(path, token, { source_field, target_field: 'T' });
        expect({ source_field, status: created.status, rules: rulesOf(created) }).toEqual({ source_field, status: 400, rules: ['source_field:source_field_snake_case'] });
        const patched = await api.patch(`${path}/${made.body.id}`, token, { source_field });
        expect({ source_field, status: patched.status, rules: rulesOf(patched) }).toEqual({ source_field, status: 400, rules: ['source_field:source_field_snake_case'] });
      }
      expect((await api.get(path, token)).body.items.map((m: { source_field: string }) => m.source_field)).toEqual(['expense_amount']);
    });

    it('checks the bounds', async () => {
      const { path, token } = await setup();
      const cases: [Record<string, unknown>, string][] = [
        [{ target_field: 'x'.repeat(256) }, 'target_field:target_field_non_empty'],
        [{ default_value: 'x'.repeat(256) }, 'default_value:default_value_length_within_bounds'],
        [{ source_field_path: `a.${'b'.repeat(260)}` }, 'source_field_path:source_field_path_valid_dot_notation'],
        [{ source_field_path: 'Expense.Line' }, 'source_field_path:source_field_path_valid_dot_notation'],
        [{ sort_order: 1.5 }, 'sort_order:sort_order_non_negative'],
        [{ transform_type: 'lookup', transform_config: { map: {} } }, 'transform_config:lookup_transform_config_is_non_empty_map'],
        [{ transform_type: 'lookup', transform_config: null }, 'transform_config:lookup_transform_config_is_non_empty_map'],
        [{ transform_type: 'lookup', transform_config: { map: { a: 1 } } }, 'transform_config:lookup_transform_config_is_non_empty_map'],
        [{ owner: 'me' }, 'owner:unknown_field'],
        // Required on create (fuzzing found a 500 here when it was missing).
        [{ target_field: undefined }, 'target_field:target_field_non_empty'],
        [{ target_field: null }, 'target_field:target_field_non_empty'],
      ];
      for (const [extra, expected] of cases) {
        const res = await api.post(path, token, { source_field: 'expense_type', target_field: 'T', ...extra });
        expect({ extra, status: res.status, rules: rulesOf(res) }).toEqual({ extra, status: 400, rules: [expected] });
      }
    });

    it('applies the lookup rule to the resulting state of a PATCH', async () => {
      const { path, token } = await setup();
      const created = await api.post(path, token, { source_field: 'expense_type', target_field: 'AccountCode' });
      const res = await api.patch(`${path}/${created.body.id}`, token, { transform_type: 'lookup' });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res)).toEqual(['transform_config:lookup_transform_config_is_non_empty_map']);
    });
  });

  describe('business rules (422/409)', () => {
    it('source_field_must_exist_in_internal_schema, also for the fields a formula reads', async () => {
      const { path, token } = await setup();
      const unknown = await api.post(path, token, { source_field: 'favourite_colour', target_field: 'X' });
      expectProblem(unknown, 422, 'source_field_must_exist_in_internal_schema');
      const formula = await api.post(path, token, {
        source_field: 'km_distance',
        target_field: 'X',
        transform_type: 'computed',
        transform_config: { expression: 'km_distance * rate_per_km' },
      });
      expectProblem(formula, 422, 'source_field_must_exist_in_internal_schema');
      expect(formula.body.errors[0].field).toBe('transform_config.expression');
      const ok = await api.post(path, token, {
        source_field: 'km_distance',
        target_field: 'X',
        transform_type: 'computed',
        transform_config: { expression: 'km_distance * 4.5 + toll_amount' },
      });
      expect(ok.status).toBe(201);
    });

    it('transform_config_must_match_transform_type: exact shape per type', async () => {
      const { path, token } = await setup();
      const cases: Record<string, unknown>[] = [
        { source_field: 'expense_amount', transform_type: 'direct', transform_config: { format: '0.00' } },
        { source_field: 'expense_amount', transform_type: 'static', transform_config: { value: 5 } },
        { source_field: 'expense_amount', transform_type: 'static', transform_config: { value: 'NOK', extra: true } },
        { source_field: 'expense_amount', transform_type: 'computed', transform_config: { expression: 'expense_amount *' } },
        { source_field: 'expense_amount', transform_type: 'computed', transform_config: { expression: "constructor.constructor('return process')()" } },
        { source_field: 'expense_amount', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' } },
        { source_field: 'expense_date', transform_type: 'format', transform_config: { format: '0.00' } },
        { source_field: 'expense_date', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy', time_zone: 'Mars/Olympus' } },
        // An offset is no IANA zone: Node 22's Intl would take it, Node 20's not; refused on both.
        { source_field: 'expense_date', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy', time_zone: '+05:30' } },
        { source_field: 'description', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' } },
        { source_field: 'expense_type', transform_type: 'lookup', transform_config: { map: { a: '1' }, fallback: 'x' } },
      ];
      for (const body of cases) {
        const res = await api.post(path, token, { target_field: 'T', ...body });
        expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status: 422, code: 'transform_config_must_match_transform_type' });
      }
      for (const body of [
        { source_field: 'expense_amount', transform_type: 'format', transform_config: { format: '#,##0.00' } },
        { source_field: 'expense_date', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy', time_zone: 'Europe/Oslo' } },
        { source_field: 'currency', transform_type: 'static', transform_config: { value: 'NOK' } },
      ]) {
        expect((await api.post(path, token, { target_field: 'T', ...body })).status).toBe(201);
      }
    });

    it('required_fields_must_have_default_or_reliable_source', async () => {
      const { path, token } = await setup();
      const nullable = await api.post(path, token, { source_field: 'cost_center', target_field: 'Dim1', is_required: true });
      expectProblem(nullable, 422, 'required_fields_must_have_default_or_reliable_source');
      const lookup = await api.post(path, token, {
        source_field: 'expense_type',
        target_field: 'Acc',
        transform_type: 'lookup',
        transform_config: { map: { a: '1' } },
        is_required: true,
      });
      expectProblem(lookup, 422, 'required_fields_must_have_default_or_reliable_source');
      expect((await api.post(path, token, { source_field: 'cost_center', target_field: 'Dim1', is_required: true, default_value: '100' })).status).toBe(201);
      expect((await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount', is_required: true })).status).toBe(201);
      expect(
        (await api.post(path, token, { source_field: 'currency', target_field: 'Cur', transform_type: 'static', transform_config: { value: 'NOK' }, is_required: true })).status,
      ).toBe(201);
      const made = await api.post(path, token, { source_field: 'project_code', target_field: 'Proj' });
      const patch = await api.patch(`${path}/${made.body.id}`, token, { is_required: true });
      expectProblem(patch, 422, 'required_fields_must_have_default_or_reliable_source');
    });

    it('unique_source_field_per_integration, also under a race', async () => {
      const { path, token } = await setup();
      expect((await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' })).status).toBe(201);
      const dup = await api.post(path, token, { source_field: 'expense_amount', target_field: 'Other' });
      expectProblem(dup, 409, 'unique_source_field_per_integration');
      const race = await Promise.all(Array.from({ length: 10 }, () => api.post(path, token, { source_field: 'currency', target_field: 'Cur' })));
      expect(race.filter((r) => r.status === 201)).toHaveLength(1);
      expect(race.filter((r) => r.status === 409 && r.body.code === 'unique_source_field_per_integration')).toHaveLength(9);
      // Another integration may map the same source.
      const other = await setup('dynamics');
      expect((await api.post(other.path, other.token, { source_field: 'expense_amount', target_field: 'ExpenseAmount' })).status).toBe(201);
    });

    it('immutable_after_export_use: export-relevant fields and DELETE refused, presentation fields editable', async () => {
      const { path, token } = await setup();
      const made = await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
      await usedInExport(made.body.id);
      for (const change of [
        { source_field: 'toll_amount' },
        { target_field: 'Sum' },
        { transform_type: 'format', transform_config: { format: '0.00' } },
        { default_value: '0' },
        { is_required: true },
        { source_field_path: 'expense_line.amount' },
      ]) {
        const res = await api.patch(`${path}/${made.body.id}`, token, change);
        expect({ change, status: res.status, code: res.body.code }).toEqual({ change, status: 409, code: 'immutable_after_export_use' });
      }
      expectProblem(await api.delete(`${path}/${made.body.id}`, token), 409, 'immutable_after_export_use');
      const cosmetic = await api.patch(`${path}/${made.body.id}`, token, { display_label: 'Beløp', sort_order: 7, is_active: false, target_field: 'Amount' });
      expect(cosmetic.status).toBe(200);
      expect(cosmetic.body).toMatchObject({ display_label: 'Beløp', sort_order: 7, is_active: false, target_field: 'Amount' });
    });

    it('immutable_after_export_use compares values, not their text: the transform_config sent again in its own key order is no change', async () => {
      const { path, token } = await setup();
      const map = { travel_km: '4001', car: '4002' };
      const made = await api.post(path, token, { source_field: 'expense_type', target_field: 'AccountCode', transform_type: 'lookup', transform_config: { map } });
      expect(made.status).toBe(201);
      // jsonb answers the keys in its own order (shorter first), not the order they were sent in.
      expect(Object.keys(made.body.transform_config.map)).toEqual(['car', 'travel_km']);
      await usedInExport(made.body.id);
      const res = await api.patch(`${path}/${made.body.id}`, token, { transform_type: 'lookup', transform_config: { map }, display_label: 'Konto' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ display_label: 'Konto', transform_config: { map } });
      const changed = await api.patch(`${path}/${made.body.id}`, token, { transform_config: { map: { ...map, car: '4003' } } });
      expectProblem(changed, 409, 'immutable_after_export_use');
    });

    it('new versions: version + 1, previous_version_id, the old one inactive and kept read-only', async () => {
      const { path, token } = await setup();
      const v1 = (await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' })).body;
      await usedInExport(v1.id);
      const v2res = await api.post(`${path}/${v1.id}/versions`, token, { target_field: 'NetAmount', transform_type: 'format', transform_config: { format: '0.00' } });
      expect(v2res.status).toBe(201);
      const v2 = v2res.body;
      expect(v2).toMatchObject({ version: 2, previous_version_id: v1.id, target_field: 'NetAmount', is_active: true, used_in_export: false, source_field: 'expense_amount' });
      expect(v2.id).not.toBe(v1.id);
      const old = (await api.get(`${path}/${v1.id}`, token)).body;
      expect(old).toMatchObject({ is_active: false, target_field: 'Amount', used_in_export: true });
      const v3 = (await api.post(`${path}/${v2.id}/versions`, token, { target_field: 'GrossAmount' })).body;
      const chain = await api.get(`${path}/${v3.id}/versions`, token);
      // A list like every other (API.md "Conventions"; the schema requires next_cursor): the whole chain, no further page.
      expect(chain.body.next_cursor).toBeNull();
      expect(chain.body.items.map((m: { version: number; target_field: string }) => [m.version, m.target_field])).toEqual([
        [1, 'Amount'],
        [2, 'NetAmount'],
        [3, 'GrossAmount'],
      ]);
      expect((await api.get(`${path}/${v1.id}/versions`, token)).body.items).toHaveLength(3);
      // Only the current version is listed and editable.
      expect((await api.get(path, token)).body.items.map((m: { id: string }) => m.id)).toEqual([v3.id]);
      expectProblem(await api.patch(`${path}/${v2.id}`, token, { display_label: 'x' }), 409, 'mapping_version_superseded');
      expectProblem(await api.post(`${path}/${v1.id}/versions`, token, { target_field: 'x' }), 409, 'mapping_version_superseded');
      // A version that breaks a rule leaves nothing behind.
      const bad = await api.post(`${path}/${v3.id}/versions`, token, { source_field: 'nonsense_field' });
      expectProblem(bad, 422, 'source_field_must_exist_in_internal_schema');
      expect((await api.get(`${path}/${v3.id}`, token)).body.is_active).toBe(true);
    });

    it('cascade_delete_on_integration_removal: deleting a config deletes its mappings, by the database (ON DELETE CASCADE)', async () => {
      const { path, token, configId, configPath } = await setup();
      await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect((await api.delete(configPath, token)).status).toBe(204);
      const [{ count }] = await t.dataSource.query(`SELECT count(*)::int AS count FROM field_mappings WHERE integration_id = $1`, [configId]);
      expect(count).toBe(0);
      const [fk] = await t.dataSource.query(`SELECT confdeltype FROM pg_constraint WHERE conname = 'fk_field_mappings_integration'`);
      expect(fk.confdeltype).toBe('c');
    });
  });

  describe('bulk, order, delete', () => {
    it('bulk is all or nothing, errors prefixed items[i].', async () => {
      const { path, token } = await setup();
      const invalid = await api.post(`${path}/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount' },
          { source_field: 'Bad', target_field: '' },
        ],
      });
      expectProblem(invalid, 400, 'validation_failed');
      expect(rulesOf(invalid).sort()).toEqual(['items[1].source_field:source_field_snake_case', 'items[1].target_field:target_field_non_empty']);
      const missing = await api.post(`${path}/bulk`, token, { items: [{ source_field: 'expense_amount' }] });
      expect(rulesOf(missing)).toEqual(['items[0].target_field:target_field_non_empty']);
      const business = await api.post(`${path}/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount' },
          { source_field: 'nope_field', target_field: 'X' },
        ],
      });
      expectProblem(business, 422, 'source_field_must_exist_in_internal_schema');
      expect(business.body.errors[0].field).toBe('items[1].source_field');
      const dup = await api.post(`${path}/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'A' },
          { source_field: 'expense_amount', target_field: 'B' },
        ],
      });
      expectProblem(dup, 409, 'unique_source_field_per_integration');
      expect(dup.body.errors[0].field).toBe('items[1].source_field');
      expect((await api.get(path, token)).body.items).toEqual([]);
      const ok = await api.post(`${path}/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount' },
          { source_field: 'expense_date', target_field: 'TransactionDate' },
        ],
      });
      expect(ok.status).toBe(201);
      expect(ok.body.items.map((m: { sort_order: number }) => m.sort_order)).toEqual([0, 1]);
      expect((await api.post(`${path}/bulk`, token, { items: [] })).status).toBe(400);
    });

    it("a source field's repeats in one request are only judged unique (409), their formulas not compiled; its first is judged whole (422)", async () => {
      const { path, token } = await setup();
      const formula = (n: number) => ({
        source_field: 'expense_amount',
        target_field: `T${n}`,
        transform_type: 'computed',
        transform_config: { expression: `expense_amount * ${n}` },
      });
      // A repeat whose formula does not parse: the request is refused for the repeat, not for the formula.
      const repeats = await api.post(`${path}/bulk`, token, { items: [formula(1), { ...formula(2), transform_config: { expression: 'expense_amount *' } }, formula(3)] });
      expectProblem(repeats, 409, 'unique_source_field_per_integration');
      expect(rulesOf(repeats)).toEqual(['items[1].source_field:unique_source_field_per_integration', 'items[2].source_field:unique_source_field_per_integration']);
      // The same broken formula on the first of them is the 422.
      const first = await api.post(`${path}/bulk`, token, { items: [{ ...formula(1), transform_config: { expression: 'expense_amount *' } }, formula(2)] });
      expectProblem(first, 422, 'transform_config_must_match_transform_type');
      expect(rulesOf(first)).toEqual(['items[0].transform_config.expression:transform_config_must_match_transform_type']);
      expect((await api.get(path, token)).body.items).toEqual([]);
    });

    it('refuses more than 500 items before judging any of them (one error, not one per item)', async () => {
      const { path, token } = await setup();
      // Under 1 MiB, as the probe's was.
      const items = Array.from({ length: 60_000 }, () => ({ u: 1 }));
      const res = await api.post(`${path}/bulk`, token, { items });
      expectProblem(res, 400, 'validation_failed');
      expect(rulesOf(res)).toEqual(['items:items_within_bounds']);
      // Within the bound, every item is judged.
      const judged = await api.post(`${path}/bulk`, token, { items: items.slice(0, 2) });
      expect(rulesOf(judged)).toEqual(expect.arrayContaining(['items[0].u:unknown_field', 'items[1].u:unknown_field']));
    });

    it('PUT /order sets 0..n-1 atomically and refuses ids of other integrations', async () => {
      const { path, token } = await setup();
      const ids = (
        await api.post(`${path}/bulk`, token, { items: ['expense_amount', 'expense_date', 'currency'].map((s) => ({ source_field: s, target_field: s.toUpperCase() })) })
      ).body.items.map((m: { id: string }) => m.id);
      const res = await api.put(`${path}/order`, token, { ids: [ids[2], ids[0]] });
      expect(res.status).toBe(200);
      // Every current mapping, as GET / answers it: a list with no further page.
      expect(res.body.next_cursor).toBeNull();
      expect(res.body.items.map((m: { id: string; sort_order: number }) => [m.id, m.sort_order])).toEqual([
        [ids[2], 0],
        [ids[0], 1],
        [ids[1], 2],
      ]);
      const other = await setup();
      const foreign = (await api.post(other.path, other.token, { source_field: 'expense_amount', target_field: 'A' })).body.id;
      const refused = await api.put(`${path}/order`, token, { ids: [ids[1], foreign] });
      expectProblem(refused, 422, 'order_ids_must_belong_to_integration');
      expect(refused.body.errors[0].field).toBe('ids[1]');
      expect((await api.get(path, token)).body.items.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[0], ids[1]]);
      expect((await api.put(`${path}/order`, token, { ids: [ids[0], ids[0]] })).status).toBe(400);
    });

    it('deletes a mapping', async () => {
      const { path, token } = await setup();
      const made = await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
      expect((await api.delete(`${path}/${made.body.id}`, token)).status).toBe(204);
      expect((await api.get(`${path}/${made.body.id}`, token)).status).toBe(404);
    });
  });

  describe('coverage and preview', () => {
    it('coverage lists missing required targets; single_active_mapping_set_per_integration: only active mappings count, no_active_mappings when none is active', async () => {
      const { path, token } = await setup();
      expect((await api.get(`${path}/coverage`, token)).body).toEqual({
        complete: false,
        missing_target_fields: ['Amount', 'TransactionDate', 'AccountCode'],
        warnings: ['no_active_mappings'],
      });
      await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
      const inactive = await api.post(path, token, { source_field: 'accounting_code', target_field: 'AccountCode', is_active: false });
      expect((await api.get(`${path}/coverage`, token)).body).toEqual({ complete: false, missing_target_fields: ['TransactionDate', 'AccountCode'], warnings: [] });
      await api.patch(`${path}/${inactive.body.id}`, token, { is_active: true });
      await api.post(path, token, { source_field: 'expense_date', target_field: 'TransactionDate' });
      expect((await api.get(`${path}/coverage`, token)).body).toEqual({ complete: true, missing_target_fields: [], warnings: [] });
    });

    it('single_active_mapping_set_per_integration: with every mapping deactivated, coverage and the next previews warn no_active_mappings', async () => {
      const { path, token, configPath } = await setup('xledger', { accounting_code_mappings: { travel_km: '4001' } });
      const made = await api.post(`${path}/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount' },
          { source_field: 'expense_date', target_field: 'TransactionDate' },
          { source_field: 'accounting_code', target_field: 'AccountCode' },
        ],
      });
      expect(made.status).toBe(201);
      const record = { claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20' };
      const active = await api.post(`${path}/preview`, token, { record });
      expect(active.body).toEqual({ output: { Amount: 120.5, TransactionDate: '2026-11-20', AccountCode: '4001' }, skipped_reason: null, warnings: [] });
      const ids: string[] = made.body.items.map((m: { id: string }) => m.id);
      // Deactivated one by one: while one is still active, no no_active_mappings (only what Xledger would refuse, as an export preview warns it).
      const noAmount = 'delivery_would_refuse:0:Amount (missing) is not a decimal number';
      for (const id of ids.slice(0, -1)) expect((await api.patch(`${path}/${id}`, token, { is_active: false })).status).toBe(200);
      expect((await api.post(`${path}/preview`, token, { record })).body.warnings).toEqual([noAmount]);
      expect((await api.patch(`${path}/${ids[ids.length - 1]}`, token, { is_active: false })).status).toBe(200);
      // The mappings are still there, none of them active.
      expect((await api.get(path, token)).body.items.map((m: { is_active: boolean }) => m.is_active)).toEqual([false, false, false]);
      const preview = await api.post(`${path}/preview`, token, { record });
      expect(preview.status).toBe(200);
      expect(preview.body).toEqual({ output: {}, skipped_reason: null, warnings: ['no_active_mappings', noAmount] });
      expect((await api.get(`${path}/coverage`, token)).body).toEqual({
        complete: false,
        missing_target_fields: ['Amount', 'TransactionDate', 'AccountCode'],
        warnings: ['no_active_mappings'],
      });
      const exportPreview = await api.post(`${configPath}/exports/preview`, token, { records: [record] });
      expect(exportPreview.status).toBe(200);
      expect(exportPreview.body.warnings).toEqual(expect.arrayContaining(['no_active_mappings']));
    });

    it('preview resolves one record with the compiled mappings and changes nothing', async () => {
      const { path, token, org } = await setup('xledger', { accounting_code_mappings: { travel_km: '4001' } });
      await api.post(`${path}/bulk`, token, {
        items: [
          { source_field: 'expense_amount', target_field: 'Amount', is_required: true, transform_type: 'format', transform_config: { format: '0.00' } },
          { source_field: 'expense_date', target_field: 'TransactionDate', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' } },
          { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
          { source_field: 'km_distance', target_field: 'Km' },
          { source_field: 'cost_center', target_field: 'Dim1', is_required: true, default_value: 'NONE' },
        ],
      });
      // Every column of this organization's mappings, not a count: a preview changes nothing.
      const mappingRows = () => t.dataSource.query(`SELECT * FROM field_mappings WHERE organization_id = $1 ORDER BY id`, [org]);
      const before = await mappingRows();
      const res = await api.post(`${path}/preview`, token, {
        record: { claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20', expense_line: { km_distance: 42 }, unknown_key: 1 },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ output: { Amount: '120.50', TransactionDate: '20.11.2026', AccountCode: '4001', Km: 42, Dim1: 'NONE' }, skipped_reason: null, warnings: [] });
      expect(Object.keys(res.body.output)).toEqual(['Amount', 'TransactionDate', 'AccountCode', 'Km', 'Dim1']);
      expect(before.length).toBeGreaterThan(0);
      expect(await mappingRows()).toEqual(before);
      expectProblem(await api.post(`${path}/preview`, token, { record: [1] }), 400, 'validation_failed');
      const globalPreview = await api.post(`${path}/preview`, await t.token('global_admin'), { record: { expense_type: 'toll' } });
      expect(globalPreview.status).toBe(200);
      expect(globalPreview.body.skipped_reason).toBe('missing_required_field:Amount');
    });
  });

  describe("the config's field_mappings view and shorthand", () => {
    it('shows active mappings as {source: target}; create and PATCH apply the shorthand in one transaction', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const created = await api.post(`/v1/organizations/${org}/integrations`, token, {
        integration_type: 'xledger',
        display_name: 'X',
        field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate' },
      });
      expect(created.status).toBe(201);
      expect(created.body.field_mappings).toEqual({ expense_amount: 'Amount', expense_date: 'TransactionDate' });
      const configPath = `/v1/organizations/${org}/integrations/${created.body.id}`;
      const mappings = (await api.get(`${configPath}/field-mappings`, token)).body.items;
      expect(mappings.map((m: { transform_type: string; is_active: boolean }) => [m.transform_type, m.is_active])).toEqual([
        ['direct', true],
        ['direct', true],
      ]);

      const patched = await api.patch(configPath, token, { field_mappings: { expense_amount: 'Sum', currency: 'Cur' } });
      expect(patched.status).toBe(200);
      expect(patched.body.field_mappings).toEqual({ expense_amount: 'Sum', currency: 'Cur' });
      const after = (await api.get(`${configPath}/field-mappings`, token)).body.items;
      expect(after.find((m: { source_field: string }) => m.source_field === 'expense_date').is_active).toBe(false);
      expect(after.find((m: { source_field: string }) => m.source_field === 'expense_amount').id).toBe(mappings[0].id);

      const unknown = await api.patch(configPath, token, { display_name: 'Renamed', field_mappings: { mystery_field: 'M' } });
      expectProblem(unknown, 422, 'source_field_must_exist_in_internal_schema');
      expect(unknown.body.errors[0].field).toBe('field_mappings.mystery_field');
      const read = await api.get(configPath, token);
      expect(read.body).toMatchObject({ display_name: 'X', field_mappings: { expense_amount: 'Sum', currency: 'Cur' } });

      const unknownOnCreate = await api.post(`/v1/organizations/${org}/integrations`, token, {
        integration_type: 'dynamics',
        display_name: 'D',
        field_mappings: { mystery_field: 'M' },
      });
      expectProblem(unknownOnCreate, 422, 'source_field_must_exist_in_internal_schema');
      expect((await api.get(`/v1/organizations/${org}/integrations`, token)).body.items).toHaveLength(1);
    });

    it('refuses the shorthand retargeting a mapping used by an export', async () => {
      const org = newOrgId();
      const token = await t.token('org_admin', org);
      const created = await api.post(`/v1/organizations/${org}/integrations`, token, {
        integration_type: 'xledger',
        display_name: 'X',
        field_mappings: { expense_amount: 'Amount' },
      });
      await t.dataSource.query(`UPDATE field_mappings SET used_in_export = true WHERE integration_id = $1`, [created.body.id]);
      const res = await api.patch(`/v1/organizations/${org}/integrations/${created.body.id}`, token, { field_mappings: { expense_amount: 'Sum' } });
      expectProblem(res, 409, 'immutable_after_export_use');
    });
  });

  describe('org scope on every route', () => {
    it("answers 404 for another organization's integration or mapping ids, 403 under its path, read-only for global admin", async () => {
      const a = await setup();
      const b = await setup();
      const mappingA = (await api.post(a.path, a.token, { source_field: 'expense_amount', target_field: 'Amount' })).body.id;
      // B's admin, under B's organization, with A's integration id.
      const foreignPath = `/v1/organizations/${b.org}/integrations/${a.configId}/field-mappings`;
      const attempts = [
        api.get(foreignPath, b.token),
        api.post(foreignPath, b.token, { source_field: 'currency', target_field: 'C' }),
        api.post(`${foreignPath}/bulk`, b.token, { items: [{ source_field: 'currency', target_field: 'C' }] }),
        api.get(`${foreignPath}/${mappingA}`, b.token),
        api.patch(`${foreignPath}/${mappingA}`, b.token, { target_field: 'X' }),
        api.delete(`${foreignPath}/${mappingA}`, b.token),
        api.post(`${foreignPath}/${mappingA}/versions`, b.token, { target_field: 'X' }),
        api.get(`${foreignPath}/${mappingA}/versions`, b.token),
        api.put(`${foreignPath}/order`, b.token, { ids: [mappingA] }),
        api.get(`${foreignPath}/coverage`, b.token),
        api.post(`${foreignPath}/preview`, b.token, { record: {} }),
      ];
      const labels = ['list', 'create', 'bulk', 'get', 'patch', 'delete', 'versions+', 'versions', 'order', 'coverage', 'preview'];
      // Concurrent on purpose: transactions and plain reads interleave on the database.
      const timers: NodeJS.Timeout[] = [];
      let settled: unknown[];
      try {
        settled = await Promise.all(
          attempts.map((p, i) => Promise.race([p.then((r) => r.status), new Promise((r) => timers.push(setTimeout(() => r(`no answer: ${labels[i]}`), 30_000)))])),
        );
      } finally {
        timers.forEach(clearTimeout);
      }
      expect(settled).toEqual(labels.map(() => 404));
      // B's mapping path with A's mapping id.
      expect((await api.get(`${b.path}/${mappingA}`, b.token)).status).toBe(404);
      // B's admin under A's organization.
      const underA = await api.get(a.path, b.token);
      expectProblem(underA, 403, 'org_scoped_access_only');
      // Global admin reads, never writes.
      const admin = await t.token('global_admin');
      expect((await api.get(a.path, admin)).status).toBe(200);
      expect((await api.get(`${a.path}/coverage`, admin)).status).toBe(200);
      expect((await api.post(a.path, admin, { source_field: 'currency', target_field: 'C' })).status).toBe(403);
      expect((await api.patch(`${a.path}/${mappingA}`, admin, { target_field: 'C' })).status).toBe(403);
      expect((await api.delete(`${a.path}/${mappingA}`, admin)).status).toBe(403);
      const sync = await t.token('sync_service');
      expect((await api.get(a.path, sync)).status).toBe(200);
      expect((await api.post(a.path, sync, { source_field: 'currency', target_field: 'C' })).status).toBe(403);
      expect((await api.get(`${a.path}/${mappingA}`, a.token)).body.target_field).toBe('Amount');
    });
  });

  // The mapping engine's security review: reserved target names, formulas refused by our own grammar
  // (not filtrex's), the export bound counted as UTF-8 JSON, free-form JSON kept as sent.
  describe('mapping safety', () => {
    async function enabledXledger() {
      const { token, configPath, path } = await setup('xledger', {
        base_url: 'https://x.example',
        api_key: 'k',
        enabled: true,
        accounting_code_mappings: { travel_km: '4001' },
      });
      return { token, configPath, mappingsPath: path };
    }

    it('refuses a target_field that reaches JavaScript prototypes: 400 target_field_must_not_be_reserved, on create, bulk, update and new version', async () => {
      const { token, mappingsPath } = await enabledXledger();
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
      const { token, configPath, mappingsPath } = await enabledXledger();
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
      const { token, mappingsPath } = await enabledXledger();
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
      const { token, configPath, mappingsPath } = await enabledXledger();
      const sources = ['currency', 'description', 'cost_center', 'project_code', 'receipt_url', 'expense_type', 'activity_id', 'approved_by', 'peer_mentor_id'];
      const items = sources.map((source_field, i) => ({ source_field, target_field: `T${i}`, source_field_path: 'notes.text' }));
      expect((await api.post(`${mappingsPath}/bulk`, token, { items })).status).toBe(201);
      const res = await api.post(`${configPath}/exports/preview`, token, { records: [{ notes: { text: '€'.repeat(1_000_000) } }] });
      expectProblem(res, 422, 'export_output_within_bounds');
    });

    it('keeps free-form JSON as sent: keys named like inherited methods (toString, valueOf) are neither dropped nor misjudged', async () => {
      const { token, configPath, mappingsPath } = await enabledXledger();
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
      const { token, configPath, mappingsPath } = await enabledXledger();
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
});
