// An export preview shows what delivery would refuse, before anything is sent: a row the config's
// connector cannot send (Connector.refusalOf) is warned `delivery_would_refuse:<index>:<message>`,
// in the connector's own words, under the warnings' cap. (test/connectors.e2e-spec.ts shows the
// words are those delivery stores, against the vendors' fakes.)
import { randomUUID } from 'node:crypto';
import { MappingPool } from '../src/export-runs/mapping-pool';
import { apiClient, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(120_000);

/** The new user's mappings: AccountCode from the config's accounting codes, and not required. */
const XLEDGER_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode' },
];
const DYNAMICS_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'ExpenseAmount', is_required: true },
  { source_field: 'expense_date', target_field: 'ExpenseDate', is_required: true },
  { source_field: 'description', target_field: 'ContactId' },
];
const NO_ACCOUNT_CODE = 'AccountCode null is not an account code';
const CONTACT_NOT_GUID = 'ContactId must be the id (GUID) of a Dataverse contact';

/** `meal` has no accounting code in the config: its AccountCode maps to null. */
const claim = (expense_type = 'travel_km', overrides: Record<string, unknown> = {}) => ({
  claim_id: randomUUID(),
  expense_type,
  expense_amount: 120.5,
  expense_date: '2026-11-20',
  ...overrides,
});

describe('export previews and results warn of the rows delivery would refuse (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  }, 60_000);
  afterAll(() => t.close());

  async function config(body: Record<string, unknown>, mappings: Record<string, unknown>[]) {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, body);
    expect(res.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${res.body.id}`;
    expect((await api.post(`${path}/field-mappings/bulk`, token, { items: mappings })).status).toBe(201);
    return { token, exports: `${path}/exports`, fieldMappings: `${path}/field-mappings` };
  }
  const xledger = () => config(xledgerConfig({ accounting_code_mappings: { travel_km: '4001' } }), XLEDGER_MAPPINGS);

  it("Xledger: a row without an account code (the mapping not required) stays in rows, warned with its index and the connector's words; a valid row gets none", async () => {
    const { token, exports } = await xledger();
    const records = [claim(), claim('meal'), claim()];
    const res = await api.post(`${exports}/preview`, token, { records });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      rows: records.map((record, index) => ({
        index,
        claim_id: record.claim_id,
        output: { Amount: 120.5, TransactionDate: '2026-11-20', AccountCode: index === 1 ? null : '4001' },
      })),
      skipped: [],
      warnings: [`delivery_would_refuse:1:${NO_ACCOUNT_CODE}`],
    });

    const valid = await api.post(`${exports}/preview`, token, { records: [claim(), claim('travel_km', { expense_date: '2026-11-21' })] });
    expect(valid.status).toBe(200);
    expect(valid.body.warnings).toEqual([]);
  });

  it('the field-mapping preview (one record) warns as the export preview of that record does: index 0, the same words; a valid record none', async () => {
    const { token, exports, fieldMappings } = await xledger();
    const refused = claim('meal');
    const one = await api.post(`${fieldMappings}/preview`, token, { record: refused });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({
      output: { Amount: 120.5, TransactionDate: '2026-11-20', AccountCode: null },
      skipped_reason: null,
      warnings: [`delivery_would_refuse:0:${NO_ACCOUNT_CODE}`],
    });
    const batch = await api.post(`${exports}/preview`, token, { records: [refused] });
    expect(one.body.warnings).toEqual(batch.body.warnings);

    const valid = await api.post(`${fieldMappings}/preview`, token, { record: claim() });
    expect(valid.status).toBe(200);
    expect(valid.body).toEqual({ output: { Amount: 120.5, TransactionDate: '2026-11-20', AccountCode: '4001' }, skipped_reason: null, warnings: [] });
    // A skipped record is no row: delivery never gets it, so nothing is predicted of it.
    const skipped = await api.post(`${fieldMappings}/preview`, token, { record: claim('meal', { expense_amount: null }) });
    expect(skipped.body).toMatchObject({ skipped_reason: 'missing_required_field:Amount', warnings: [] });
  });

  it("Xledger: the connector's other rules, in its words (an amount it would misread, a date it cannot read)", async () => {
    const { token, exports } = await config(xledgerConfig({ accounting_code_mappings: { travel_km: '4001' } }), [
      { source_field: 'expense_amount', target_field: 'Amount', transform_type: 'format', transform_config: { format: '#,##0' }, is_required: true },
      { source_field: 'description', target_field: 'TransactionDate' },
      { source_field: 'accounting_code', target_field: 'AccountCode' },
    ]);
    const res = await api.post(`${exports}/preview`, token, {
      records: [
        claim('travel_km', { description: '2026-11-20' }),
        claim('travel_km', { expense_amount: 1234, description: '2026-11-20' }),
        claim('travel_km', { description: 'soon' }),
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.rows).toHaveLength(3);
    expect(res.body.warnings).toEqual([
      'delivery_would_refuse:1:Amount "1,234" is ambiguous: 1234 with a thousands separator or 1.234 with a decimal comma; format it without grouping (0.00)',
      'delivery_would_refuse:2:TransactionDate "soon" is not a date (yyyy-MM-dd or dd.MM.yyyy)',
    ]);
  });

  it('Dataverse: what its connector refuses before sending (a ContactId that is no GUID), and nothing for a valid row', async () => {
    const { token, exports } = await config(
      {
        integration_type: 'dynamics',
        display_name: 'D',
        base_url: 'https://org.crm4.dynamics.com',
        enabled: false,
        extra_config: { entity_set: 'msdyn_expenses', alternate_key: 'meander_reference' },
      },
      DYNAMICS_MAPPINGS,
    );
    const records = [claim('travel_km', { description: '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f' }), claim('travel_km', { description: 'Kari Nordmann' })];
    const res = await api.post(`${exports}/preview`, token, { records });
    expect(res.status).toBe(200);
    expect(res.body.rows.map((row: { index: number }) => row.index)).toEqual([0, 1]);
    expect(res.body.warnings).toEqual([`delivery_would_refuse:1:${CONTACT_NOT_GUID}`]);
  });

  it('an export run stores the warnings with its result: POST …/exports answers them, GET …/exports/{id} reads them back', async () => {
    const { token, exports } = await xledger();
    const created = await api.post(exports, token, { records: [claim('meal'), claim(), claim('meal')] });
    expect(created.status).toBe(201);
    const warnings = [`delivery_would_refuse:0:${NO_ACCOUNT_CODE}`, `delivery_would_refuse:2:${NO_ACCOUNT_CODE}`];
    expect({ rows: created.body.row_count, warnings: created.body.warnings }).toEqual({ rows: 3, warnings });
    const read = await api.get(`${exports}/${created.body.id}`, token);
    expect(read.status).toBe(200);
    expect(read.body.warnings).toEqual(warnings);
  });

  it('holds the cap with 10,000 refused rows (mapped in a worker, checked after): 100 warnings and the rest counted, every row kept', async () => {
    const { token, exports } = await xledger();
    const records = Array.from({ length: 10_000 }, () => claim('meal'));
    const pool = t.app.get(MappingPool);
    const inWorkers = pool.completedInWorkers;
    const capped = [...Array.from({ length: 100 }, (_, i) => `delivery_would_refuse:${i}:${NO_ACCOUNT_CODE}`), 'more_warnings_omitted:9900'];

    const preview = await api.post(`${exports}/preview`, token, { records });
    expect(preview.status).toBe(200);
    expect(preview.body.rows).toHaveLength(10_000);
    expect(preview.body.warnings).toEqual(capped);

    const run = await api.post(exports, token, { records });
    expect(run.status).toBe(201);
    expect(run.body.warnings).toEqual(capped);
    expect((await api.get(`${exports}/${run.body.id}`, token)).body.warnings).toEqual(capped);
    // The mapping ran in the worker threads (where no connector is): the check ran on the rows they answered.
    expect(pool.completedInWorkers).toBe(inWorkers + 2);
  });

  it("a preview's coverage warnings come first, under the same cap as the rows' (the answer's schema allows 101)", async () => {
    // No AccountCode mapping: coverage warns, and Xledger would refuse every row.
    const { token, exports } = await config(xledgerConfig({ enabled: false }), XLEDGER_MAPPINGS.slice(0, 2));
    const res = await api.post(`${exports}/preview`, token, { records: Array.from({ length: 300 }, () => claim()) });
    expect(res.status).toBe(200);
    expect(res.body.warnings).toHaveLength(101);
    expect(res.body.warnings.slice(0, 2)).toEqual(['missing_target_field:AccountCode', 'delivery_would_refuse:0:AccountCode (missing) is not an account code']);
    expect(res.body.warnings[100]).toBe('more_warnings_omitted:201');
  });
});
