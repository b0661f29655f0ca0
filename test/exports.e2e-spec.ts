import { randomUUID } from 'node:crypto';
import { apiClient, expectProblem, xledgerConfig, type ApiClient } from './support/api';
import { INLINE_RECORDS, MappingPool } from '../src/export-runs/mapping-pool';
import { newOrgId, startTestApp, testCursor, type TestApp } from './support/test-app';

const MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' }, is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
  { source_field: 'cost_center', target_field: 'CostCenter', is_required: true, default_value: 'MISSING' },
  { source_field: 'project_code', target_field: 'Project', is_required: false },
];

const round2 = (x: number) => Math.round(x * 100 * (1 + Number.EPSILON)) / 100;

function claim(overrides: Record<string, unknown> = {}) {
  return { claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20', currency: 'NOK', ...overrides };
}

describe('exports (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  async function setup(options: { enabled?: boolean; mappings?: Record<string, unknown>[] } = {}) {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const res = await api.post(
      `/v1/organizations/${org}/integrations`,
      token,
      xledgerConfig({ api_key: 'k', enabled: options.enabled ?? true, accounting_code_mappings: { travel_km: '4001', toll: '4002' } }),
    );
    expect(res.status).toBe(201);
    const configPath = `/v1/organizations/${org}/integrations/${res.body.id}`;
    const mappings = options.mappings ?? MAPPINGS;
    if (mappings.length > 0) expect((await api.post(`${configPath}/field-mappings/bulk`, token, { items: mappings })).status).toBe(201);
    return { org, token, configId: res.body.id as string, configPath, path: `${configPath}/exports` };
  }

  it('previews without side effects: rows in sort order, skipped records with reasons', async () => {
    const { path, token, org, configId } = await setup();
    // Every column of this integration's mappings: a preview must not freeze or version them.
    const mappingRows = () => t.dataSource.query(`SELECT * FROM field_mappings WHERE organization_id = $1 AND integration_id = $2 ORDER BY id`, [org, configId]);
    const mappingsBefore = await mappingRows();
    const records = [claim(), claim({ expense_amount: null }), claim({ expense_type: 'parking', cost_center: 'CC7', project_code: 'P1' })];
    const res = await api.post(`${path}/preview`, token, { records });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      rows: [
        { index: 0, claim_id: records[0].claim_id, output: { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '4001', CostCenter: 'MISSING', Project: null } },
        { index: 2, claim_id: records[2].claim_id, output: { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '4999', CostCenter: 'CC7', Project: 'P1' } },
      ],
      skipped: [{ index: 1, claim_id: records[1].claim_id, reason: 'missing_required_field:Amount' }],
      warnings: [],
    });
    expect(Object.keys(res.body.rows[0].output)).toEqual(['Amount', 'TransactionDate', 'AccountCode', 'CostCenter', 'Project']);
    expect((await api.get(path, token)).body.items).toEqual([]);
    expect(mappingsBefore.length).toBeGreaterThan(0);
    expect(await mappingRows()).toEqual(mappingsBefore);
    expect(mappingsBefore.some((m: { used_in_export: boolean }) => m.used_in_export)).toBe(false);
  });

  it('formats dates of the years 0001–0099 as written, not as 1900–1999 nor invalid_date', async () => {
    const { path, token } = await setup();
    const records = [claim({ expense_date: '0050-03-01' }), claim({ expense_date: '0001-01-01' }), claim({ expense_date: '0000-01-01' })];
    const res = await api.post(`${path}/preview`, token, { records });
    expect(res.status).toBe(200);
    expect(res.body.rows.map((r: { output: { TransactionDate: unknown } }) => r.output.TransactionDate)).toEqual(['01.03.0050', '01.01.0001']);
    // There is no year 0000 in the calendar date-fns prints (it would be 0001 BC).
    expect(res.body.skipped).toEqual([{ index: 2, claim_id: records[2].claim_id, reason: 'missing_required_field:TransactionDate' }]);
    expect(res.body.warnings).toEqual(['invalid_date:TransactionDate']);
  });

  it('echoes claim_id as a string (numbers as text); objects and oversized values come back as null', async () => {
    const { path, token } = await setup();
    const records = [
      claim({ claim_id: 'c-1' }),
      claim({ claim_id: 42 }),
      claim({ claim_id: { huge: 'x'.repeat(10_000) } }),
      claim({ claim_id: 'y'.repeat(256) }),
      claim({ claim_id: undefined }),
    ];
    const res = await api.post(`${path}/preview`, token, { records });
    expect(res.status).toBe(200);
    expect(res.body.rows.map((r: { claim_id: unknown }) => r.claim_id)).toEqual(['c-1', '42', null, null, null]);
  });

  it('refuses prototype keys in the records at every depth (400 unknown_field at the field), exports nothing', async () => {
    const { path, token, configId } = await setup();
    const records = `[${JSON.stringify(claim({ cost_center: 'CC1' })).slice(0, -1)}, "__proto__": {"polluted": true}, "expense_line": {"constructor": {"prototype": {"polluted": true}}, "km_distance": 3}}]`;
    for (const route of [`${path}/preview`, path]) {
      const res = await t.http.post(route).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(`{"records":${records}}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors.map((e: { field: string; rule: string }) => [e.field, e.rule])).toEqual([
        ['records[0].__proto__', 'unknown_field'],
        ['records[0].expense_line.constructor', 'unknown_field'],
      ]);
    }
    expect(await t.dataSource.query(`SELECT id FROM export_runs WHERE integration_id = $1`, [configId])).toEqual([]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('runs an export: 201 with the run, recorded with the mapping versions, mappings frozen', async () => {
    const { path, token, configPath } = await setup();
    const records = [claim(), claim({ expense_date: null })];
    const res = await api.post(path, await t.token('sync_service'), { records });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'completed', row_count: 1, skipped_count: 1, skipped: [{ index: 1, reason: 'missing_required_field:TransactionDate' }] });
    expect(res.body.mappings_used).toHaveLength(MAPPINGS.length);
    expect(res.body.mappings_used.every((m: { version: number }) => m.version === 1)).toBe(true);
    expect(new Date(res.body.finished_at).getTime()).toBeGreaterThanOrEqual(new Date(res.body.started_at).getTime());

    const mappings = (await api.get(`${configPath}/field-mappings`, token)).body.items;
    expect(mappings.every((m: { used_in_export: boolean }) => m.used_in_export)).toBe(true);
    expect(new Set(res.body.mappings_used.map((m: { mapping_id: string }) => m.mapping_id))).toEqual(new Set(mappings.map((m: { id: string }) => m.id)));
    expectProblem(await api.patch(`${configPath}/field-mappings/${mappings[0].id}`, token, { target_field: 'Sum' }), 409, 'immutable_after_export_use');

    const one = await api.get(`${path}/${res.body.id}`, await t.token('global_admin'));
    expect(one.body).toEqual(res.body);
    const list = await api.get(path, token);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).not.toHaveProperty('rows');
    expect(list.body.items[0]).toMatchObject({ id: res.body.id, row_count: 1 });
  });

  it('deliver must be a boolean: null is refused (400 deliver_must_be_boolean), nothing exported; absent means false', async () => {
    const { path, token, configId } = await setup();
    const res = await api.post(path, token, { records: [claim()], deliver: null });
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors).toEqual([{ field: 'deliver', rule: 'deliver_must_be_boolean', message: expect.any(String) }]);
    expect(await t.dataSource.query(`SELECT id FROM export_runs WHERE integration_id = $1`, [configId])).toEqual([]);
    const absent = await api.post(path, token, { records: [claim()] });
    expect([absent.status, absent.body.status, absent.body.delivery]).toEqual([201, 'completed', null]);
  });

  it("a cursor past an int4 key (the run rows' index): 400 cursor_must_be_valid like any foreign cursor, not a 500", async () => {
    const { org, path, token } = await setup();
    const run = await api.post(path, token, { records: [claim()] });
    expect(run.status).toBe(201);
    const rows = `${path}/${run.body.id}/rows`;
    const list = `export_run_rows:${run.body.id}`;
    // Sealed under the app's key (no page issues such a cursor: the check behind the seal).
    for (const index of [2n ** 31n, 99999999999n, 2n ** 63n - 1n]) {
      const res = await api.get(`${rows}?cursor=${testCursor(org, list, index)}`, token);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([{ field: 'cursor', rule: 'cursor_must_be_valid', message: expect.any(String) }]);
    }
    // The largest int4 is still a cursor (past every row: an empty page); another run's is not.
    const last = await api.get(`${rows}?cursor=${testCursor(org, list, 2n ** 31n - 1n)}`, token);
    expect([last.status, last.body]).toEqual([200, { items: [], next_cursor: null }]);
    const other = await api.get(`${rows}?cursor=${testCursor(org, `export_run_rows:${randomUUID()}`, 0n)}`, token);
    expectProblem(other, 400, 'validation_failed');
    expect(other.body.errors).toEqual([{ field: 'cursor', rule: 'cursor_must_be_valid', message: 'cursor was issued by another list' }]);
  });

  it('records the new version after a mapping was versioned', async () => {
    const { path, token, configPath } = await setup();
    await api.post(path, token, { records: [claim()] });
    const amount = (await api.get(`${configPath}/field-mappings`, token)).body.items.find((m: { source_field: string }) => m.source_field === 'expense_amount');
    const v2 = await api.post(`${configPath}/field-mappings/${amount.id}/versions`, token, { transform_type: 'format', transform_config: { format: '0.00' } });
    expect(v2.status).toBe(201);
    const second = await api.post(path, token, { records: [claim()] });
    expect(second.body.rows[0].output.Amount).toBe('120.50');
    expect(second.body.mappings_used).toContainEqual({ mapping_id: v2.body.id, version: 2 });
    expect(second.body.mappings_used).not.toContainEqual({ mapping_id: amount.id, version: 1 });
    const runs = (await api.get(path, token)).body.items;
    expect(runs.map((r: { id: string }) => r.id)).toEqual([second.body.id, expect.any(String)]);
  });

  it('coverage_check_before_export: 422 listing missing targets; preview warns instead', async () => {
    const { path, token } = await setup({ mappings: [MAPPINGS[0]] });
    const res = await api.post(path, token, { records: [claim()] });
    expectProblem(res, 422, 'coverage_check_before_export');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['TransactionDate', 'AccountCode']);
    const preview = await api.post(`${path}/preview`, token, { records: [claim()] });
    expect(preview.status).toBe(200);
    expect(preview.body.warnings).toEqual(expect.arrayContaining(['missing_target_field:TransactionDate', 'missing_target_field:AccountCode']));
    expect((await api.get(path, token)).body.items).toEqual([]);
  });

  it('no_active_mappings warning when nothing is active', async () => {
    const { path, token } = await setup({ mappings: [] });
    const preview = await api.post(`${path}/preview`, token, { records: [claim()] });
    expect(preview.body.warnings).toEqual(expect.arrayContaining(['no_active_mappings']));
  });

  it('disabled_integration_must_not_sync: a disabled config refuses exports (409), previews are allowed', async () => {
    const { path, token } = await setup({ enabled: false });
    expectProblem(await api.post(path, token, { records: [claim()] }), 409, 'disabled_integration_must_not_sync');
    expect((await api.post(`${path}/preview`, token, { records: [claim()] })).status).toBe(200);
  });

  it('validates records and limits: 10,000 at most, 10 MiB body on these routes only', async () => {
    const { path, token } = await setup();
    expectProblem(await api.post(path, token, { records: [1, 'x'] }), 400, 'validation_failed');
    expectProblem(await api.post(path, token, { records: {} }), 400, 'validation_failed');
    const tooMany = Array.from({ length: 10_001 }, () => ({ expense_amount: 1 }));
    expectProblem(await api.post(`${path}/preview`, token, { records: tooMany }), 400, 'validation_failed');
    // A 2 MiB body passes here (it would be 413 elsewhere) …
    const big = Array.from({ length: 2_000 }, () => claim({ description: 'x'.repeat(1000) }));
    const ok = await api.post(`${path}/preview`, token, { records: big });
    expect(ok.status).toBe(200);
    expect(ok.body.rows).toHaveLength(2_000);
    // … and over 10 MiB is refused.
    const huge = Array.from({ length: 1_100 }, () => claim({ description: 'x'.repeat(10_000) }));
    expectProblem(await api.post(`${path}/preview`, token, { records: huge }), 413, 'payload_too_large');
  });

  it('queues the most records an export takes (10,000) for delivery: every row stored, past the 65,535 parameters of one statement', async () => {
    const { path, token } = await setup();
    const res = await api.post(path, token, { records: Array.from({ length: 10_000 }, () => claim()), deliver: true });
    expect(res.status).toBe(202);
    const [{ n }] = await t.dataSource.query(`SELECT count(*)::int AS n FROM export_run_rows WHERE export_run_id = $1`, [res.body.id]);
    expect(n).toBe(10_000);
  });

  it('bounds what a batch may produce: 422 export_output_within_bounds, nothing recorded', async () => {
    // 20 static values of 255 characters over 10,000 empty records: ~51 MB of output from a 30 KB body.
    const targets = ['Amount', 'TransactionDate', 'AccountCode', ...Array.from({ length: 17 }, (_, i) => `Extra${i}`)];
    const sources = [
      'expense_amount',
      'expense_date',
      'accounting_code',
      'cost_center',
      'project_code',
      'currency',
      'description',
      'expense_type',
      'claim_id',
      'km_distance',
      'toll_amount',
      'parking_amount',
      'employee_id',
      'department',
      'approved_by',
      'submitted_at',
      'approved_at',
      'vehicle',
      'route',
      'passengers',
    ];
    const { path, configId } = await setup({ mappings: [] });
    const token = await t.token('org_admin', path.split('/')[3]);
    const known = (await api.get('/v1/integration-types', token)).body.items
      .find((i: { integration_type: string }) => i.integration_type === 'xledger')
      .source_fields.map((f: { name: string }) => f.name);
    const items = sources
      .filter((source) => known.includes(source))
      .slice(0, 20)
      .map((source, i) => ({ source_field: source, target_field: targets[i], transform_type: 'static', transform_config: { value: 'v'.repeat(255) } }));
    expect(items.length).toBeGreaterThanOrEqual(8);
    expect((await api.post(`${path.replace(/\/exports$/, '')}/field-mappings/bulk`, token, { items })).status).toBe(201);
    const records = Array.from({ length: 10_000 }, () => ({}));
    const needed = items.length * 257 * records.length;
    expect(needed).toBeGreaterThan(16 * 1024 * 1024);
    for (const route of [`${path}/preview`, path]) {
      const res = await api.post(route, token, { records });
      expectProblem(res, 422, 'export_output_within_bounds');
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'records', rule: 'export_output_within_bounds' })]);
    }
    const [{ n }] = await t.dataSource.query(`SELECT count(*)::int AS n FROM export_runs WHERE integration_id = $1`, [configId]);
    expect(n).toBe(0);
    // Within the bound, the same mappings export.
    const small = await api.post(path, token, { records: records.slice(0, 100) });
    expect(small.status).toBe(201);
    expect(small.body.rows).toHaveLength(100);
  });

  it('maps large batches in a worker thread, with the same answer as on the event loop', async () => {
    const { path, token } = await setup();
    const pool = t.app.get(MappingPool);
    const before = pool.completedInWorkers;
    const records = Array.from({ length: INLINE_RECORDS * 2 }, (_, i) => claim({ claim_id: `c-${i}`, cost_center: i % 2 ? `CC${i}` : undefined }));
    const large = await api.post(`${path}/preview`, token, { records });
    expect(large.status).toBe(200);
    expect(pool.completedInWorkers).toBe(before + 1);
    const small = await api.post(`${path}/preview`, token, { records: records.slice(0, 10) });
    expect(pool.completedInWorkers).toBe(before + 1);
    expect(large.body.rows.slice(0, 10)).toEqual(small.body.rows);
    expect(large.body.rows[1]).toEqual({
      index: 1,
      claim_id: 'c-1',
      output: { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '4001', CostCenter: 'CC1', Project: null },
    });
    expect(large.body.rows).toHaveLength(records.length);
  });

  it('answers alike for every transform: preview and export, a worker thread and the event loop, the field-mapping preview', async () => {
    const { path, token, configPath } = await setup({
      mappings: [
        { source_field: 'expense_amount', target_field: 'Amount', transform_type: 'format', transform_config: { format: '#,##0.00' } },
        { source_field: 'expense_date', target_field: 'TransactionDate', transform_type: 'format', transform_config: { format: 'yyyy-MM-dd' } },
        { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999' },
        { source_field: 'approved_at', target_field: 'ApprovedAt', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy HH:mm', time_zone: 'eUrOpE/oSlO' } },
        { source_field: 'expense_type', target_field: 'Kind', transform_type: 'lookup', transform_config: { map: { travel_km: 'KM', toString: 'T' } } },
        {
          source_field: 'km_distance',
          target_field: 'Mileage',
          transform_type: 'computed',
          transform_config: { expression: 'if km_distance > 10 then round(km_distance * 4.5 + toll_amount, 2) else concat(upper(currency), "-", 010)' },
        },
        { source_field: 'currency', target_field: 'Currency', transform_type: 'static', transform_config: { value: 'NOK' } },
        { source_field: 'toll_amount', target_field: 'Toll', transform_type: 'format', transform_config: { format: '0.00' } },
      ],
    });
    const records = Array.from({ length: INLINE_RECORDS + 4 }, (_, i) =>
      claim({
        claim_id: `c-${i}`,
        expense_amount: [1.005, -1.005, 3_000_000_000_000, 120.5][i % 4],
        expense_type: ['travel_km', 'toString', 'constructor', 'parking'][i % 4],
        approved_at: i % 3 ? '2026-07-01T22:30:00Z' : 'not a date',
        expense_line: { km_distance: i % 20 },
        toll_amount: i % 5 ? 1.005 * i : null,
      }),
    );
    const pool = t.app.get(MappingPool);
    const before = pool.completedInWorkers;
    const preview = await api.post(`${path}/preview`, token, { records });
    expect(preview.status).toBe(200);
    const exported = await api.post(path, token, { records });
    expect(exported.status).toBe(201);
    expect(pool.completedInWorkers).toBe(before + 2);
    expect(exported.body.rows).toEqual(preview.body.rows);
    expect(exported.body.skipped).toEqual(preview.body.skipped);
    expect(exported.body.warnings).toEqual(preview.body.warnings);
    expect(preview.body.rows[1].output).toEqual({
      Amount: '-1.01',
      TransactionDate: '2026-11-20',
      AccountCode: '4999',
      ApprovedAt: '02.07.2026 00:30',
      Kind: 'T',
      Mileage: 'NOK-10',
      Currency: 'NOK',
      Toll: '1.01',
    });
    expect(preview.body.rows[2].output).toMatchObject({ Amount: '3,000,000,000,000.00', Kind: null, Mileage: 'NOK-10' });
    expect(preview.body.rows[12].output).toMatchObject({ Mileage: round2(12 * 4.5 + 1.005 * 12), ApprovedAt: null });
    expect(preview.body.warnings).toEqual(expect.arrayContaining(['invalid_date:ApprovedAt']));
    // The event loop (small batches) and the field-mapping preview (one record) answer the same rows.
    for (const start of [0, 11, INLINE_RECORDS - 1]) {
      const small = await api.post(`${path}/preview`, token, { records: records.slice(start, start + 3) });
      expect(small.body.rows.map((r: { output: unknown }) => r.output)).toEqual(preview.body.rows.slice(start, start + 3).map((r: { output: unknown }) => r.output));
      const one = await api.post(`${configPath}/field-mappings/preview`, token, { record: records[start] });
      expect(one.status).toBe(200);
      expect(one.body.output).toEqual(preview.body.rows[start].output);
    }
  });

  it('formulas never compare two texts longer than 1,000 characters: null and formula_error, at once (each comparison scanned both)', async () => {
    // Two ~4.9 MB fields compared ~90 times by one formula in each mapping held the event loop for seconds, for one record.
    let expression = 'claim_id';
    while (`${expression} <= currency`.length <= 1000) expression += ' <= currency';
    const { path, token } = await setup({
      mappings: [
        { source_field: 'expense_amount', target_field: 'Amount' },
        { source_field: 'claim_id', target_field: 'Same', transform_type: 'computed', transform_config: { expression } },
        { source_field: 'currency', target_field: 'Short', transform_type: 'computed', transform_config: { expression: 'currency < "b"' } },
      ],
    });
    const long = 'a'.repeat(4_900_000);
    const res = await api.post(`${path}/preview`, token, { records: [claim({ claim_id: long, currency: `${long}` })] });
    expect(res.status).toBe(200);
    expect(res.body.rows[0].output).toEqual({ Amount: 120.5, Same: null, Short: true });
    expect(res.body.warnings).toContain('formula_error:Same');
  });

  it('immutable_after_export_use: an export queued for delivery freezes the mappings it used too', async () => {
    const { path, token, configPath } = await setup();
    const res = await api.post(path, token, { records: [claim()], deliver: true });
    expect(res.status).toBe(202);
    const mappings = (await api.get(`${configPath}/field-mappings`, token)).body.items;
    expect(mappings.map((m: { used_in_export: boolean }) => m.used_in_export)).toEqual(MAPPINGS.map(() => true));
    expectProblem(await api.patch(`${configPath}/field-mappings/${mappings[0].id}`, token, { target_field: 'Sum' }), 409, 'immutable_after_export_use');
  });

  /** POST of an export whose first mapping of the records waits while `meanwhile` runs; the answer, and how many times the records were mapped. */
  async function exportWhileMapping(path: string, token: string, records: unknown[], meanwhile: () => Promise<void>) {
    const pool = t.app.get(MappingPool);
    const run = pool.run.bind(pool);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const mapping = new Promise<void>((resolve) => (entered = resolve));
    const mapped = jest.spyOn(pool, 'run').mockImplementationOnce(async (orgId, task) => {
      entered();
      await released;
      return run(orgId, task);
    });
    try {
      const exporting = api.post(path, token, { records });
      await mapping;
      await meanwhile();
      release();
      return { res: await exporting, mappings: mapped.mock.calls.length };
    } finally {
      release();
      mapped.mockRestore();
    }
  }

  it('maps holding no lock: a mapping written meanwhile is not held up, and the export maps again with it', async () => {
    const { path, token, configPath } = await setup({ mappings: MAPPINGS.filter((m) => m.source_field !== 'project_code') });
    let added!: { status: number; body: { id: string } };
    // The first mapping waits: the config is not locked meanwhile, so the write goes through at once.
    const { res, mappings } = await exportWhileMapping(path, token, [claim({ project_code: 'P1' })], async () => {
      added = await api.post(`${configPath}/field-mappings`, token, { source_field: 'project_code', target_field: 'Project' });
    });
    expect(added.status).toBe(201);
    expect(res.status).toBe(201);
    // Mapped again with the new mapping, and recorded with it.
    expect(mappings).toBe(2);
    expect(res.body.rows[0].output).toMatchObject({ Project: 'P1' });
    expect(res.body.mappings_used.map((m: { mapping_id: string }) => m.mapping_id)).toContain(added.body.id);
  });

  it("maps again when the config's accounting codes change meanwhile (the derived accounting_code reads them)", async () => {
    const { path, token, configPath } = await setup();
    const { res, mappings } = await exportWhileMapping(path, token, [claim()], async () => {
      expect((await api.patch(configPath, token, { accounting_code_mappings: { travel_km: '5001' } })).status).toBe(200);
    });
    expect(res.status).toBe(201);
    expect(mappings).toBe(2);
    expect(res.body.rows[0].output).toMatchObject({ AccountCode: '5001' });
  });

  it('mappings that change under every mapping of the records: 409 conflict after three, nothing recorded or frozen', async () => {
    const { path, token, configPath, configId } = await setup();
    const project = (await api.get(`${configPath}/field-mappings`, token)).body.items.find((m: { source_field: string }) => m.source_field === 'project_code');
    const pool = t.app.get(MappingPool);
    const run = pool.run.bind(pool);
    let writes = 0;
    const mapped = jest.spyOn(pool, 'run').mockImplementation(async (orgId, task) => {
      const renamed = await api.patch(`${configPath}/field-mappings/${project.id}`, token, { target_field: `Project${++writes}` });
      expect(renamed.status).toBe(200);
      return run(orgId, task);
    });
    try {
      expectProblem(await api.post(path, token, { records: [claim()] }), 409, 'conflict');
    } finally {
      mapped.mockRestore();
    }
    expect(writes).toBe(3);
    expect(await t.dataSource.query(`SELECT id FROM export_runs WHERE integration_id = $1`, [configId])).toEqual([]);
    expect((await api.get(`${configPath}/field-mappings/${project.id}`, token)).body).toMatchObject({ target_field: 'Project3', used_in_export: false });
  });

  it('a failure inside the transaction leaves no run and no frozen mapping', async () => {
    const { path, token, configId, configPath } = await setup();
    await t.dataSource.query(`
      CREATE OR REPLACE FUNCTION refuse_export_freeze() RETURNS trigger AS $$
      BEGIN IF NEW.integration_id = '${configId}' AND NEW.used_in_export THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await t.dataSource.query(`CREATE TRIGGER refuse_export_freeze BEFORE UPDATE ON field_mappings FOR EACH ROW EXECUTE FUNCTION refuse_export_freeze()`);
    try {
      expectProblem(await api.post(path, token, { records: [claim()] }), 500, 'internal_error');
    } finally {
      await t.dataSource.query(`DROP TRIGGER refuse_export_freeze ON field_mappings`);
      await t.dataSource.query(`DROP FUNCTION refuse_export_freeze()`);
    }
    const [{ count }] = await t.dataSource.query(`SELECT count(*)::int AS count FROM export_runs WHERE integration_id = $1`, [configId]);
    expect(count).toBe(0);
    const mappings = (await api.get(`${configPath}/field-mappings`, token)).body.items;
    expect(mappings.some((m: { used_in_export: boolean }) => m.used_in_export)).toBe(false);
  });

  it('is org-scoped and role-checked on every route', async () => {
    const a = await setup();
    const b = await setup();
    const run = (await api.post(a.path, a.token, { records: [claim()] })).body;
    const foreign = `/v1/organizations/${b.org}/integrations/${a.configId}/exports`;
    for (const res of [
      await api.post(`${foreign}/preview`, b.token, { records: [claim()] }),
      await api.post(foreign, b.token, { records: [claim()] }),
      await api.get(foreign, b.token),
      await api.get(`${foreign}/${run.id}`, b.token),
      await api.get(`${b.path}/${run.id}`, b.token),
    ])
      expect(res.status).toBe(404);
    expectProblem(await api.get(a.path, b.token), 403, 'org_scoped_access_only');
    const admin = await t.token('global_admin');
    expect((await api.post(a.path, admin, { records: [claim()] })).status).toBe(403);
    expect((await api.post(`${a.path}/preview`, admin, { records: [claim()] })).status).toBe(200);
    expect((await api.get(a.path, admin)).status).toBe(200);
    expect((await api.post(a.path, await t.token('sync_service'), { records: [claim()] })).status).toBe(201);
  });
});
