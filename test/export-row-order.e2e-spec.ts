import { randomUUID } from 'node:crypto';
import { REORDER_STORED_RESULTS, REORDER_STORED_ROW_OUTPUTS } from '../src/database/migrations/1763800000009-export-row-order';
import { apiClient, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// Created in this order; sort_order says otherwise, and neither is alphabetical nor jsonb's
// order (shorter keys first: Memo, Amount, AccountCode, TransactionDate).
const MAPPINGS = [
  { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999', sort_order: 3 },
  { source_field: 'description', target_field: 'Memo', default_value: '-', sort_order: 2 },
  { source_field: 'expense_date', target_field: 'TransactionDate', sort_order: 0 },
  { source_field: 'expense_amount', target_field: 'Amount', sort_order: 1 },
];
const SORT_ORDER = ['TransactionDate', 'Amount', 'Memo', 'AccountCode'];

const claim = () => ({ claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20', description: 'Oslo' });
const keysOfRows = (body: { rows: { output: Record<string, unknown> }[] }) => body.rows.map((row) => Object.keys(row.output));

describe("stored export rows keep the mappings' order (HTTP, real database)", () => {
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
    const config = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ accounting_code_mappings: { travel_km: '4001' } }));
    expect(config.status).toBe(201);
    const configPath = `/v1/organizations/${org}/integrations/${config.body.id}`;
    const mapped = await api.post(`${configPath}/field-mappings/bulk`, token, { items: MAPPINGS });
    expect(mapped.status).toBe(201);
    return { token, configPath, mappings: mapped.body.items as { id: string; target_field: string }[] };
  }

  it('answers GET …/exports/{id} in the order POST answered: sort_order, also after the mappings were reordered or deactivated (single_active_mapping_set_per_integration: a new export leaves the inactive one out)', async () => {
    const { token, configPath, mappings } = await setup();
    const records = [claim(), claim()];
    const preview = await api.post(`${configPath}/exports/preview`, token, { records });
    expect(keysOfRows(preview.body)).toEqual([SORT_ORDER, SORT_ORDER]);

    const posted = await api.post(`${configPath}/exports`, token, { records });
    expect(posted.status).toBe(201);
    expect(keysOfRows(posted.body)).toEqual([SORT_ORDER, SORT_ORDER]);
    const read = await api.get(`${configPath}/exports/${posted.body.id}`, token);
    expect(read.status).toBe(200);
    expect(keysOfRows(read.body)).toEqual([SORT_ORDER, SORT_ORDER]);
    // The whole answer, key order included, is what POST answered.
    expect(read.text).toBe(posted.text);

    // Later changes to the mappings do not rewrite what was exported.
    const byTarget = new Map(mappings.map((m) => [m.target_field, m.id]));
    const reordered = await api.put(`${configPath}/field-mappings/order`, token, { ids: ['AccountCode', 'Memo', 'Amount', 'TransactionDate'].map((f) => byTarget.get(f)) });
    expect(reordered.status).toBe(200);
    expect((await api.patch(`${configPath}/field-mappings/${byTarget.get('Memo')}`, token, { is_active: false })).status).toBe(200);
    const again = await api.get(`${configPath}/exports/${posted.body.id}`, token);
    expect(keysOfRows(again.body)).toEqual([SORT_ORDER, SORT_ORDER]);

    // and a new export follows the new order.
    const next = await api.post(`${configPath}/exports`, token, { records: [claim()] });
    expect(keysOfRows(next.body)).toEqual([['AccountCode', 'Amount', 'TransactionDate']]);
    expect(keysOfRows((await api.get(`${configPath}/exports/${next.body.id}`, token)).body)).toEqual([['AccountCode', 'Amount', 'TransactionDate']]);
  });

  it('hands the delivery connectors each row output with its keys in sort_order', async () => {
    const { token, configPath } = await setup();
    const queued = await api.post(`${configPath}/exports`, token, { records: [claim(), claim()], deliver: true });
    expect(queued.status).toBe(202);
    // What ExportRunRowRepository.listPendingAfter reads for the connectors: the pg-parsed column.
    const stored: { output: Record<string, unknown> }[] = await t.dataSource.query(`SELECT output FROM export_run_rows WHERE export_run_id = $1 ORDER BY index`, [queued.body.id]);
    expect(stored.map((row) => Object.keys(row.output))).toEqual([SORT_ORDER, SORT_ORDER]);
    expect(stored.map((row) => row.output)).toEqual(queued.body.rows.map((row: { output: unknown }) => row.output));
  });

  it('puts runs stored in jsonb order before the migration back in the order of the mapping versions they used', async () => {
    const { token, configPath } = await setup();
    const posted = await api.post(`${configPath}/exports`, token, { records: [claim()], deliver: true });
    expect(posted.status).toBe(202);
    // What a run stored before migration 1763800000009 looks like: its keys in jsonb's order.
    await t.dataSource.query(`UPDATE export_runs SET result = result::jsonb::json WHERE id = $1`, [posted.body.id]);
    await t.dataSource.query(`UPDATE export_run_rows SET output = output::jsonb::json WHERE export_run_id = $1`, [posted.body.id]);
    const legacy = await api.get(`${configPath}/exports/${posted.body.id}`, token);
    expect(keysOfRows(legacy.body)).toEqual([['Memo', 'Amount', 'AccountCode', 'TransactionDate']]);

    await t.dataSource.query(REORDER_STORED_RESULTS, [[posted.body.id]]);
    await t.dataSource.query(REORDER_STORED_ROW_OUTPUTS, [[posted.body.id]]);
    const repaired = await api.get(`${configPath}/exports/${posted.body.id}`, token);
    expect(repaired.text).toBe(posted.text);
    const [row] = await t.dataSource.query(`SELECT output FROM export_run_rows WHERE export_run_id = $1`, [posted.body.id]);
    expect(Object.keys(row.output)).toEqual(SORT_ORDER);
  });
});
