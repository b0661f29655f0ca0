import type { Connector, ConnectorContext, DeliveryRow, RowOutcome } from '../src/sync/connector';
import { apiClient, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';

jest.setTimeout(60_000);

/** Delivers every row; a config's batches wait while `hold` says so. */
class HoldingSink implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = 10;
  readonly calls: string[] = [];
  hold: (configId: string) => Promise<void> = async () => undefined;

  async deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    this.calls.push(context.config.id);
    await this.hold(context.config.id);
    return rows.map((row) => ({ index: row.index, status: 'delivered', externalId: `SINK-${row.index}` }));
  }
}

// pg-boss races a job's handler against the job's expiry and, when the expiry wins, gives the worker
// its next job while the handler runs on. Each attempt holds a pool connection (its lock's).
describe('delivery capacity: DELIVERY_WORKERS bounds the attempts under way, also past a job expiry', () => {
  let t: TestApp;
  let api: ApiClient;
  const sink = new HoldingSink();

  beforeAll(async () => {
    t = await startTestApp({ env: { DELIVERY_WORKERS: '1', DELIVERY_JOB_TIMEOUT_SECONDS: '2' }, connectors: [sink] });
    api = apiClient(t);
  }, 60_000);
  afterAll(() => t.close());

  async function queuedRun() {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const created = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ sync_frequency: 'manual' }));
    const path = `/v1/organizations/${org}/integrations/${created.body.id}`;
    const mappings = [
      { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
      { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
      { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
    ];
    expect((await api.post(`${path}/field-mappings/bulk`, token, { items: mappings })).status).toBe(201);
    const records = [{ claim_id: newOrgId(), expense_type: 'travel_km', expense_amount: 12.5, expense_date: '2026-11-20' }];
    const run = await api.post(`${path}/exports`, token, { records, deliver: true });
    expect(run.status).toBe(202);
    return { configId: created.body.id as string, token, path, run: `${path}/exports/${run.body.id}` };
  }

  it('a worker whose attempt outlived its job waits, holding nothing, and starts no second attempt until the first ends', async () => {
    const slow = await queuedRun();
    const next = await queuedRun();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    sink.hold = (configId) => (configId === slow.configId ? released : Promise.resolve());
    try {
      expect((await api.post(`${slow.path}/sync`, slow.token, {})).status).toBe(202);
      await waitFor(
        () => sink.calls.length,
        (n) => n === 1,
      );
      expect((await api.post(`${next.path}/sync`, next.token, {})).status).toBe(202);
      // A config's delivery jobs that expired (the handler outlived DELIVERY_JOB_TIMEOUT_SECONDS).
      const expiredJobs = (configId: string) =>
        waitFor(
          async () =>
            Number(
              (await t.dataSource.query(`SELECT count(*) FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state IN ('retry', 'failed')`, [configId]))[0]
                .count,
            ),
          (n) => n > 0,
        );
      // Past the slow job's 2 s expiry: pg-boss has handed the worker the next job meanwhile.
      expect(await expiredJobs(slow.configId)).toBeGreaterThan(0);
      // The worker took the other config's job and waited with it, past its expiry too: not attempted.
      expect(await expiredJobs(next.configId)).toBeGreaterThan(0);
      expect(sink.calls).toEqual([slow.configId]);
    } finally {
      release();
    }
    // Once the slow attempt ends, the other config's run goes.
    const delivered = async (run: string, token: string) => (await api.get(run, token)).body.status;
    expect(
      await waitFor(
        () => delivered(next.run, next.token),
        (status) => status === 'delivered',
      ),
    ).toBe('delivered');
    expect(
      await waitFor(
        () => delivered(slow.run, slow.token),
        (status) => status === 'delivered',
      ),
    ).toBe('delivered');
    expect(sink.calls).toEqual([slow.configId, next.configId]);
  });
});
