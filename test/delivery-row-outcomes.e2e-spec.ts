import type { RowOutcome } from '../src/sync/connector';
import { applyOutcomesStatement, ExportRunRowRepository } from '../src/export-runs/export-run-row.repository';
import { apiClient, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(60_000);

/** Every value of `key` in an EXPLAIN (FORMAT JSON) plan tree, summed. */
function sumInPlan(node: Record<string, unknown>, key: string): number {
  const own = typeof node[key] === 'number' ? (node[key] as number) : 0;
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return own + children.reduce((sum, child) => sum + sumInPlan(child, key), 0);
}

/**
 * Writing a batch's outcomes (the engine's hot statement) on a database with history: pending
 * rows are then rare in the planner's statistics, and the statement must still find each row
 * of the batch by the join, not by comparing every row of the run with every outcome.
 */
describe('a batch of row outcomes (real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  /** A manual Xledger config with one queued run of `count` pending rows (manual: nothing delivers it). */
  async function queuedRun(count: number): Promise<{ orgId: string; runId: string }> {
    const orgId = newOrgId();
    const token = await t.token('org_admin', orgId);
    const config = await api.post(`/v1/organizations/${orgId}/integrations`, token, {
      integration_type: 'xledger',
      display_name: 'X',
      base_url: 'https://x.example',
      api_key: 'xl-key-0123456789abcdef',
      enabled: true,
      sync_frequency: 'manual',
    });
    expect(config.status).toBe(201);
    const path = `/v1/organizations/${orgId}/integrations/${config.body.id}`;
    const mappings = await api.post(`${path}/field-mappings/bulk`, token, {
      items: [
        { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
        { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
        { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
      ],
    });
    expect(mappings.status).toBe(201);
    const records = Array.from({ length: count }, (_, n) => ({ claim_id: `c${n}`, expense_type: 'travel_km', expense_amount: 10 + n, expense_date: '2026-11-20' }));
    const run = await api.post(`${path}/exports`, token, { records, deliver: true });
    expect(run.status).toBe(202);
    return { orgId, runId: run.body.id as string };
  }

  it('joins each outcome to its row when the statistics say pending rows are rare', async () => {
    const pending = await queuedRun(1000);
    const history = await queuedRun(1);
    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      // 200,000 delivered rows of history, and statistics that have seen them (rolled back below).
      await runner.query(
        `INSERT INTO export_run_rows (export_run_id, index, organization_id, status, external_id)
         SELECT $1, n, $2, 'delivered', 'x' || n FROM generate_series(1, 200000) AS n`,
        [history.runId, history.orgId],
      );
      await runner.query(`ANALYZE export_run_rows`);
      const outcomes: RowOutcome[] = Array.from({ length: 500 }, (_, index) => ({ index, status: 'delivered', externalId: `x-${index}` }));
      const { sql, params } = applyOutcomesStatement(pending.orgId, pending.runId, outcomes);
      const [
        {
          'QUERY PLAN': [explained],
        },
      ] = await runner.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      // The bad plan compared all 1,000 rows with all 500 outcomes: 499,500 rows removed by its join filter.
      expect(sumInPlan(explained.Plan, 'Rows Removed by Join Filter')).toBeLessThanOrEqual(outcomes.length);
      const [{ n }] = await runner.query(`SELECT count(*)::int AS n FROM export_run_rows WHERE export_run_id = $1 AND status = 'delivered'`, [pending.runId]);
      expect(n).toBe(500);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('gives an outcome only to a row still pending', async () => {
    const { orgId, runId } = await queuedRun(3);
    const rows = t.app.get(ExportRunRowRepository);
    await rows.applyOutcomes(orgId, runId, [
      { index: 0, status: 'delivered', externalId: 'first' },
      { index: 1, status: 'failed', error: 'refused' },
    ]);
    await rows.applyOutcomes(orgId, runId, [
      { index: 0, status: 'failed', error: 'late answer' },
      { index: 1, status: 'delivered', externalId: 'late' },
      { index: 2, status: 'delivered', externalId: 'third' },
    ]);
    const stored = await t.dataSource.query(`SELECT index, status, external_id, error FROM export_run_rows WHERE export_run_id = $1 ORDER BY index`, [runId]);
    expect(stored).toEqual([
      { index: 0, status: 'delivered', external_id: 'first', error: null },
      { index: 1, status: 'failed', external_id: null, error: 'refused' },
      { index: 2, status: 'delivered', external_id: 'third', error: null },
    ]);
  });
});
