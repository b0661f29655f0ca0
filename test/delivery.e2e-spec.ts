import { randomUUID } from 'node:crypto';
import { DeliveryFailure, DeliveryStopped, type Connector, type ConnectorContext, type DeliveryRow, type RowOutcome } from '../src/sync/connector';
import { ConnectorRegistry } from '../src/sync/connector.registry';
import { DeliveryLocks } from '../src/sync/delivery-lock';
import { DeliveryService } from '../src/sync/delivery.service';
import { ALERT_QUEUE, DELIVERY_QUEUE, JobQueue } from '../src/job-queue/job-queue';
import { nextSlot } from '../src/sync/sync-schedule';
import { applyOutcomesStatement, ExportRunRowRepository } from '../src/export-runs/export-run-row.repository';
import { CONFIGS_WITH_DELIVERABLE_RUNS } from '../src/export-runs/export-run.repository';
import { type ApiClient, apiClient, expectProblem, expenseClaim, hlfPortalConfig, rulesOf, XLEDGER_EXPORT_MAPPINGS, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';

jest.setTimeout(60_000);

const API_KEY = 'xl-key-0123456789abcdef';
/** Another config's secret in the same organization: an upstream may quote it too. */
const OTHER_SECRET = 'hlf-client-secret-0123456789';

/** A test sink standing in for the external system: it records what reaches it, by reference. */
class SinkConnector implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = 3;
  readonly received = new Map<string, Record<string, unknown>>();
  readonly calls: { configId: string; references: string[]; apiKey: string | null; baseUrl: string | null }[] = [];
  /** Whole-batch failures to throw for a config, in order, before anything is applied. */
  failures = new Map<string, Error[]>();
  /** Rows (by index) the system refuses. */
  refuse = new Set<number>();
  /** Called before each batch, with the config's id (a test may act while its delivery runs; other tests' retries pass by too). */
  beforeBatch: (configId: string) => Promise<void> = async () => undefined;
  /** Sends a batch as two requests (its first row, then the rest), asking the engine in between as a connector must. */
  twoRequests = false;
  /** The connector's pre-send check (Connector.refusalOf), where a test gives one. */
  refusalOf?: (output: Record<string, unknown>) => string | null;
  /** The system's own answer for a row, where a test gives one. */
  answer: (row: DeliveryRow) => RowOutcome | undefined = () => undefined;

  async deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    await this.beforeBatch(context.config.id);
    if (this.twoRequests && rows.length > 1) {
      const first = await this.request(context, rows.slice(0, 1));
      try {
        await context.beforeRequest?.();
      } catch (error) {
        if (error instanceof DeliveryStopped) error.answered = first;
        throw error;
      }
      return [...first, ...(await this.request(context, rows.slice(1)))];
    }
    return this.request(context, rows);
  }

  private async request(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    this.calls.push({ configId: context.config.id, references: rows.map((r) => r.reference), apiKey: context.credentials.api_key, baseUrl: context.config.base_url });
    const failure = this.failures.get(context.config.id)?.shift();
    if (failure) throw failure;
    return rows.map((row) => {
      const answer = this.answer(row);
      if (answer) return answer;
      if (this.refuse.has(row.index)) return { index: row.index, status: 'failed', error: `row ${row.index} refused: account closed (key ${API_KEY}, ${OTHER_SECRET})` };
      this.received.set(row.reference, row.output);
      return { index: row.index, status: 'delivered', externalId: `GL-${row.index}` };
    });
  }

  callsFor(configId: string) {
    return this.calls.filter((c) => c.configId === configId);
  }
}

describe('delivery to the external system (HTTP, real database, the job queue)', () => {
  let t: TestApp;
  let api: ApiClient;
  const sink = new SinkConnector();

  beforeAll(async () => {
    t = await startTestApp({
      captureLogs: true,
      // EGRESS_ALLOW_PRIVATE is false (the default): the built-in connectors may not reach loopback.
      env: { DELIVERY_WORKERS: '2', DELIVERY_BACKOFF_BASE_MS: '200', DELIVERY_MAX_ATTEMPTS: '3', DYNAMICS_AUTHORITY_URL: 'https://127.0.0.1:9' },
      connectors: [sink],
    });
    api = apiClient(t);
  }, 60_000);
  afterAll(() => t.close());
  beforeEach(() => {
    sink.twoRequests = false;
    sink.failures = new Map();
    sink.refuse = new Set();
    sink.beforeBatch = async () => undefined;
    sink.answer = () => undefined;
  });

  async function setup(options: { sync_frequency?: string; enabled?: boolean } = {}) {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const res = await api.post(
      `/v1/organizations/${org}/integrations`,
      token,
      xledgerConfig({ api_key: API_KEY, enabled: options.enabled ?? true, sync_frequency: options.sync_frequency ?? 'realtime' }),
    );
    expect(res.status).toBe(201);
    const configPath = `/v1/organizations/${org}/integrations/${res.body.id}`;
    expect((await api.post(`${configPath}/field-mappings/bulk`, token, { items: XLEDGER_EXPORT_MAPPINGS })).status).toBe(201);
    return { org, token, configId: res.body.id as string, configPath, exports: `${configPath}/exports` };
  }

  /** The run, once `done` says so (the worker is asynchronous). */
  async function waitForRun(path: string, token: string, done: (run: any) => boolean, timeoutMs = 20_000) {
    return waitFor(async () => (await api.get(path, token)).body, done, timeoutMs);
  }

  const syncRuns = async (integrationId: string) =>
    (await t.dataSource.query(`SELECT status, records_pushed, error FROM sync_runs WHERE integration_id = $1 ORDER BY seq`, [integrationId])) as {
      status: string;
      records_pushed: number;
      error: string | null;
    }[];

  /** Runs `action` while the sink takes the config's next first batch, once. */
  function whileFirstBatchIsSent(configId: string, action: () => Promise<void>) {
    let done = false;
    sink.beforeBatch = async (id) => {
      if (done || id !== configId) return;
      done = true;
      await action();
    };
  }

  /** A manual config's queued run of `count` rows: nothing delivers it until someone asks. */
  async function queuedRun(count: number) {
    const { org, token, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: Array.from({ length: count }, () => expenseClaim()), deliver: true });
    expect(res.status).toBe(202);
    return { orgId: org, runId: res.body.id as string };
  }

  it("writes a batch's outcomes through the rows' primary key, never a join the statistics can turn quadratic", async () => {
    const pending = await queuedRun(1000);
    const history = await queuedRun(1);
    const outcomes: RowOutcome[] = Array.from({ length: 500 }, (_, index) => ({ index, status: 'delivered', externalId: `x-${index}` }));
    const { sql, params } = applyOutcomesStatement(pending.orgId, pending.runId, outcomes);
    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      // Statistics in which pending rows are rare: 200,000 delivered rows of history, ANALYZEd (rolled back below).
      await runner.query(
        `INSERT INTO export_run_rows (export_run_id, index, organization_id, status, external_id)
         SELECT $1, n, $2, 'delivered', 'x' || n FROM generate_series(1, 200000) AS n`,
        [history.runId, history.orgId],
      );
      await runner.query(`ANALYZE export_run_rows`);
      const [
        {
          'QUERY PLAN': [explained],
        },
      ] = await runner.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      // The join this replaced compared all 1,000 rows with all 500 outcomes (499,500 rows removed by its join filter).
      const nodes = JSON.stringify(explained.Plan);
      expect(nodes).not.toMatch(/"Node Type":"(Nested Loop|Hash Join|Merge Join|Function Scan)"/);
      expect(nodes).toContain('"Index Name":"pk_export_run_rows"');
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

  it('gives each row its own outcome when a batch skips rows and answers out of order', async () => {
    const { orgId, runId } = await queuedRun(10);
    await t.app.get(ExportRunRowRepository).applyOutcomes(orgId, runId, [
      { index: 8, status: 'delivered', externalId: 'eighth' },
      { index: 3, status: 'failed', error: 'refused "3"\\' },
      { index: 5, status: 'delivered', externalId: null },
      { index: 4, status: 'delivered', externalId: 'fourth, with {braces}' },
    ]);
    const stored = await t.dataSource.query(`SELECT index, status, external_id, error FROM export_run_rows WHERE export_run_id = $1 AND index BETWEEN 2 AND 9 ORDER BY index`, [
      runId,
    ]);
    expect(stored).toEqual([
      { index: 2, status: 'pending', external_id: null, error: null },
      { index: 3, status: 'failed', external_id: null, error: 'refused "3"\\' },
      { index: 4, status: 'delivered', external_id: 'fourth, with {braces}', error: null },
      { index: 5, status: 'delivered', external_id: null, error: null },
      { index: 6, status: 'pending', external_id: null, error: null },
      { index: 7, status: 'pending', external_id: null, error: null },
      { index: 8, status: 'delivered', external_id: 'eighth', error: null },
      { index: 9, status: 'pending', external_id: null, error: null },
    ]);
  });

  it("predicts no refusal in a preview for a connector without a check: the host's connector for xledger replaces the built-in, and its rules are its own", async () => {
    const { token, exports } = await setup();
    // A date the built-in Xledger connector would refuse ("is not a date"); the sink takes it.
    const res = await api.post(`${exports}/preview`, token, { records: [expenseClaim({ expense_date: 'soon' })] });
    expect(res.status).toBe(200);
    expect(res.body.rows[0].output).toMatchObject({ TransactionDate: 'soon' });
    expect(res.body.warnings).toEqual([]);
    sink.refusalOf = (output) => (output.AccountCode === '4999' ? 'the sink takes no 4999' : null);
    try {
      expect((await api.post(`${exports}/preview`, token, { records: [expenseClaim({ expense_type: 'meal' })] })).body.warnings).toEqual([
        'delivery_would_refuse:0:the sink takes no 4999',
      ]);
    } finally {
      delete sink.refusalOf;
    }
  });

  it('queues a realtime export (202) and delivers every row once, with its stable reference; each attempt is a sync run', async () => {
    const { token, configId, configPath, exports } = await setup();
    const records = [expenseClaim(), expenseClaim({ expense_amount: null }), expenseClaim(), expenseClaim(), expenseClaim()];
    const res = await api.post(exports, token, { records, deliver: true });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'queued', delivery: { attempts: 0, delivered_count: 0, failed_count: 0, next_attempt_at: null, last_error: null } });
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(run).toMatchObject({ status: 'delivered', delivery: { attempts: 1, delivered_count: 4, failed_count: 0 } });
    // Four rows in batches of three: two requests; each row once, by its reference.
    expect(sink.callsFor(configId).map((c) => c.references.length)).toEqual([3, 1]);
    const references = sink.callsFor(configId).flatMap((c) => c.references);
    expect(references).toEqual([0, 2, 3, 4].map((i) => `meander:${res.body.id}:${i}`));
    expect(sink.callsFor(configId)[0].apiKey).toBe(API_KEY);
    expect(sink.received.get(`meander:${res.body.id}:0`)).toMatchObject({ Amount: 120.5, AccountCode: '4999' });
    const rows = await api.get(`${exports}/${res.body.id}/rows`, token);
    expect(rows.body.items).toEqual([
      { index: 0, claim_id: records[0].claim_id, status: 'delivered', external_id: 'GL-0', error: null },
      { index: 1, claim_id: records[1].claim_id, status: 'skipped', external_id: null, error: 'missing_required_field:Amount' },
      { index: 2, claim_id: records[2].claim_id, status: 'delivered', external_id: 'GL-2', error: null },
      { index: 3, claim_id: records[3].claim_id, status: 'delivered', external_id: 'GL-3', error: null },
      { index: 4, claim_id: records[4].claim_id, status: 'delivered', external_id: 'GL-4', error: null },
    ]);
    expect(await syncRuns(configId)).toEqual([{ status: 'success', records_pushed: 4, error: null }]);
    expect((await api.get(configPath, token)).body).toMatchObject({ last_sync_status: 'success', last_sync_error: null });
    // Settled now: retention ages the run from here, not from its export.
    const [{ settled_at: settledAt }] = await t.dataSource.query(`SELECT settled_at FROM export_runs WHERE id = $1`, [res.body.id]);
    expect(Math.abs(new Date(settledAt).getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('pages the rows by index', async () => {
    const { token, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    const first = await api.get(`${exports}/${res.body.id}/rows?limit=2`, token);
    expect(first.body.items.map((r: { index: number }) => r.index)).toEqual([0, 1]);
    const second = await api.get(`${exports}/${res.body.id}/rows?limit=2&cursor=${first.body.next_cursor}`, token);
    expect({ indexes: second.body.items.map((r: { index: number }) => r.index), next: second.body.next_cursor }).toEqual({ indexes: [2], next: null });
  });

  it("keeps a manual config's run queued until POST /sync, which delivers it", async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await api.get(`${exports}/${res.body.id}`, token)).body.status).toBe('queued');
    expect(sink.callsFor(configId)).toHaveLength(0);
    const sync = await api.post(`${configPath}/sync`, token, {});
    expect({ status: sync.status, body: sync.body }).toEqual({ status: 202, body: { queued_runs: 1 } });
    expect((await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered')).status).toBe('delivered');
  });

  /** The run once its attempt has been recorded as stopped (a sync run), the sync runs with it. */
  async function stoppedRun(configId: string, runPath: string, token: string) {
    const recorded = await waitFor(
      () => syncRuns(configId),
      (runs) => runs.length > 0,
    );
    return { run: (await api.get(runPath, token)).body, recorded };
  }

  /** The config's delivery jobs by state (pg-boss's own table). */
  const deliveryJobStates = async (configId: string) =>
    ((await t.dataSource.query(`SELECT state FROM pgboss.job WHERE name = $1 AND singleton_key = $2`, [DELIVERY_QUEUE, configId])) as { state: string }[]).map((j) => j.state);

  /** Once no delivery job of the config waits, is due or runs: whatever was queued for it has been worked. */
  async function jobsWorked(configId: string) {
    const states = await waitFor(
      () => deliveryJobStates(configId),
      (all) => all.every((state) => !['created', 'retry', 'active'].includes(state)),
    );
    expect(states.filter((state) => ['created', 'retry', 'active'].includes(state))).toEqual([]);
    return states;
  }

  it('disabled_integration_must_not_sync: not one request while disabled; disabled mid-run, it stops before the next batch, uncounted', async () => {
    // Disabled while its run waits for its job: the job, made due and worked, sends nothing.
    const waiting = await setup({ sync_frequency: 'daily' });
    const queued = await api.post(waiting.exports, waiting.token, { records: [expenseClaim()], deliver: true });
    expect(queued.status).toBe(202);
    expect((await api.patch(waiting.configPath, waiting.token, { enabled: false })).status).toBe(200);
    const [[due]] = await t.dataSource.query(`UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND singleton_key = $2 AND state = 'created' RETURNING id`, [
      DELIVERY_QUEUE,
      waiting.configId,
    ]);
    expect(due).toBeDefined();
    t.app.get(JobQueue).wakeDeliveryWorkers();
    expect(await jobsWorked(waiting.configId)).toContain('completed');
    expect(sink.callsFor(waiting.configId)).toEqual([]);
    expect((await api.get(`${waiting.exports}/${queued.body.id}`, waiting.token)).body).toMatchObject({ status: 'queued', delivery: { attempts: 0, delivered_count: 0 } });
    expect(await syncRuns(waiting.configId)).toEqual([]);

    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: Array.from({ length: 7 }, () => expenseClaim()), deliver: true });
    // The config is disabled while the first batch is sent: the attempt stops before the second.
    whileFirstBatchIsSent(configId, async () => expect((await api.patch(configPath, token, { enabled: false })).status).toBe(200));
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const stopped = await stoppedRun(configId, `${exports}/${res.body.id}`, token);
    // Recorded, but not counted towards DELIVERY_MAX_ATTEMPTS: disabling uses up none of the run's retries.
    expect(stopped.recorded).toEqual([{ status: 'partial', records_pushed: 3, error: 'disabled_integration_must_not_sync' }]);
    expect(stopped.run).toMatchObject({ status: 'queued', delivery: { attempts: 0, delivered_count: 3 } });
    const callsWhileDisabled = sink.callsFor(configId).length;
    expect(callsWhileDisabled).toBe(1);
    expectProblem(await api.post(`${configPath}/sync`, token, {}), 409, 'disabled_integration_must_not_sync');
    // The stopped attempt's job is over, and nothing was queued again for it while disabled.
    await jobsWorked(configId);
    expect(sink.callsFor(configId)).toHaveLength(callsWhileDisabled);
    // Enabled again, the rest goes; the three delivered rows are not sent again.
    sink.beforeBatch = async () => undefined;
    const current = await api.get(configPath, token);
    expect((await api.patch(configPath, token, { enabled: true }, { 'If-Match': current.headers.etag })).status).toBe(200);
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const done = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(done.delivery).toMatchObject({ attempts: 1, delivered_count: 7 });
    const references = sink.callsFor(configId).flatMap((c) => c.references);
    expect(new Set(references).size).toBe(7);
    expect(references).toHaveLength(7);
  });

  it("disabled between two requests of one batch (a connector that sends more than one), it stops before the second; the first one's rows are kept", async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    sink.twoRequests = true;
    whileFirstBatchIsSent(configId, async () => expect((await api.patch(configPath, token, { enabled: false })).status).toBe(200));
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const stopped = await stoppedRun(configId, `${exports}/${res.body.id}`, token);
    expect(stopped.recorded).toEqual([{ status: 'partial', records_pushed: 1, error: 'disabled_integration_must_not_sync' }]);
    expect(stopped.run).toMatchObject({ status: 'queued', delivery: { attempts: 0, delivered_count: 1 } });
    expect(sink.callsFor(configId).map((c) => c.references)).toEqual([[`meander:${res.body.id}:0`]]);
  });

  it('paused mid-run by hand, it stops before the next batch and says so (integration_paused), uncounted', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: Array.from({ length: 4 }, () => expenseClaim()), deliver: true });
    whileFirstBatchIsSent(configId, async () => expect((await api.patch(configPath, token, { paused: true })).status).toBe(200));
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const stopped = await stoppedRun(configId, `${exports}/${res.body.id}`, token);
    expect(stopped.recorded).toEqual([{ status: 'partial', records_pushed: 3, error: 'integration_paused' }]);
    expect(stopped.run).toMatchObject({ status: 'queued', delivery: { attempts: 0, delivered_count: 3 } });
    expect(sink.callsFor(configId)).toHaveLength(1);
  });

  it('credentials.rejected once per streak: an attempt stopped on purpose between two refusals ends none, a success does', async () => {
    const { org, token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    // An endpoint to raise alerts for; what is raised is read from the queue (nothing needs to answer).
    const endpoint = await api.post(`/v1/organizations/${org}/alert-endpoints`, token, { url: 'https://alerts.invalid/hook' });
    expect(endpoint.status).toBe(201);
    const rejectedAlerts = async () =>
      Number(
        (
          (await t.dataSource.query(`SELECT count(*) FROM pgboss.job WHERE name = $1 AND data->>'orgId' = $2 AND data->'event'->>'type' = 'credentials.rejected'`, [
            ALERT_QUEUE,
            org,
          ])) as {
            count: string;
          }[]
        )[0].count,
      );
    const rejected = () => new DeliveryFailure('credentials_rejected', 'HTTP 401', 600);
    const attempted = (count: number) =>
      waitFor(
        () => syncRuns(configId),
        (runs) => runs.length === count,
      );
    const syncNow = async () => expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const run = await api.post(exports, token, { records: Array.from({ length: 4 }, () => expenseClaim()), deliver: true });
    // As the run's wait ends: the backoff and the system's Retry-After both.
    const retryNow = () => t.dataSource.query(`UPDATE export_runs SET next_attempt_at = now(), not_before = NULL WHERE id = $1`, [run.body.id]);

    // Refused: the streak's alert.
    sink.failures.set(configId, [rejected()]);
    await syncNow();
    await attempted(1);
    expect(await rejectedAlerts()).toBe(1);
    // The retry is stopped by disabling the config after its first batch; enabled again, refused again: the same streak.
    await retryNow();
    whileFirstBatchIsSent(configId, async () => expect((await api.patch(configPath, token, { enabled: false })).status).toBe(200));
    await syncNow();
    await attempted(2);
    const current = await api.get(configPath, token);
    expect((await api.patch(configPath, token, { enabled: true }, { 'If-Match': current.headers.etag })).status).toBe(200);
    sink.failures.set(configId, [rejected()]);
    await retryNow();
    await syncNow();
    expect((await attempted(3)).map((r) => r.error)).toEqual(['credentials_rejected', 'disabled_integration_must_not_sync', 'credentials_rejected']);
    expect(await rejectedAlerts()).toBe(1);
    // A success ends the streak: the next refusal is alerted again.
    await retryNow();
    await syncNow();
    expect((await attempted(4))[3].error).toBeNull();
    sink.failures.set(configId, [rejected()]);
    await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    await syncNow();
    await attempted(5);
    expect(await rejectedAlerts()).toBe(2);
    expect((await api.delete(`/v1/organizations/${org}/alert-endpoints/${endpoint.body.id}`, token)).status).toBe(204);
  });

  it("delivers a run longer than one read of pending rows: every row once, in order, in the connector's batches", async () => {
    const { token, configId, exports } = await setup();
    // 1,005 rows: a read of 1,000 (not a multiple of the sink's 3) and one of 5.
    const res = await api.post(exports, token, { records: Array.from({ length: 1005 }, () => expenseClaim()), deliver: true });
    const done = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered', 60_000);
    expect(done.delivery).toMatchObject({ attempts: 1, delivered_count: 1005 });
    const calls = sink.callsFor(configId);
    expect(calls.map((c) => c.references.length)).toEqual([...Array.from({ length: 333 }, () => 3), 1, 3, 2]);
    expect(calls.flatMap((c) => c.references)).toEqual(Array.from({ length: 1005 }, (_, i) => `meander:${res.body.id}:${i}`));
  });

  it('keeps what the system answered before a batch failed as a whole: those rows are not sent again', async () => {
    const { token, configId, exports } = await setup();
    // A $batch whose first part was written and whose others were throttled, say.
    const answered: RowOutcome[] = [
      { index: 0, status: 'delivered', externalId: 'GL-early' },
      { index: 1, status: 'failed', error: `row 1 refused (key ${API_KEY})` },
    ];
    sink.failures.set(configId, [new DeliveryFailure('retryable', 'throttled', undefined, answered)]);
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    const done = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'partially_delivered');
    expect(done.delivery).toMatchObject({ attempts: 2, delivered_count: 2, failed_count: 1 });
    expect(sink.callsFor(configId).map((c) => c.references)).toEqual([[0, 1, 2].map((i) => `meander:${res.body.id}:${i}`), [`meander:${res.body.id}:2`]]);
    const rows = await api.get(`${exports}/${res.body.id}/rows`, token);
    expect(rows.body.items.map((r: { status: string; external_id: string | null; error: string | null }) => [r.status, r.external_id, r.error])).toEqual([
      ['delivered', 'GL-early', null],
      ['failed', null, 'row 1 refused (key [redacted])'],
      ['delivered', 'GL-2', null],
    ]);
    expect((await syncRuns(configId)).map((r) => [r.status, r.records_pushed, r.error])).toEqual([
      ['partial', 1, 'throttled'],
      // The second attempt sent row 2 only, and it was taken; the refusal was the first attempt's.
      ['success', 1, null],
    ]);
  });

  it("scrubs the key the attempt sent from the system's words, also when it was rotated meanwhile", async () => {
    const { token, configId, configPath, exports } = await setup();
    sink.refuse = new Set([0]);
    // The key is rotated while the batch is out: the stored secrets no longer hold the one sent.
    let rotated = 0;
    whileFirstBatchIsSent(configId, async () => {
      rotated = (await api.patch(configPath, token, { api_key: 'xl-key-rotated-0123456789abcdef' })).status;
    });
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    const done = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'failed');
    // One attempt, sent with the old key, which was no longer stored when the answer came.
    expect({ rotated, attempts: done.delivery.attempts }).toEqual({ rotated: 200, attempts: 1 });
    expect(sink.callsFor(configId).map((c) => c.apiKey)).toEqual([API_KEY]);
    const [row] = (await api.get(`${exports}/${res.body.id}/rows`, token)).body.items;
    expect(row.error).toContain('account closed');
    expect(row.error).not.toContain(API_KEY);
  });

  it('retries a failed batch with backoff, honouring Retry-After, and fails the run once out of attempts', async () => {
    const { token, configId, exports } = await setup();
    sink.failures.set(configId, [new DeliveryFailure('retryable', 'upstream 503', 2), new Error('socket hang up')]);
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim()], deliver: true });
    // Held at least two seconds (Retry-After): long enough to be read on a busy machine.
    const first = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.delivery.attempts === 1 && r.status === 'queued');
    expect(first.delivery).toMatchObject({ attempts: 1, last_error: 'upstream 503' });
    // Retry-After: 2 s beats the 200 ms base. Both times the server's; the retry was set after the attempt started.
    const [{ started_at: firstStarted }] = await t.dataSource.query(`SELECT started_at FROM sync_runs WHERE integration_id = $1 ORDER BY seq LIMIT 1`, [configId]);
    expect(new Date(first.delivery.next_attempt_at).getTime() - new Date(firstStarted).getTime()).toBeGreaterThanOrEqual(2_000);
    const done = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(done.delivery).toMatchObject({ attempts: 3, delivered_count: 2, next_attempt_at: null });
    expect(sink.callsFor(configId)).toHaveLength(3);
    expect((await syncRuns(configId)).map((r) => [r.status, r.error])).toEqual([
      ['failed', 'upstream 503'],
      ['failed', 'socket hang up'],
      ['success', null],
    ]);

    const out = await setup();
    sink.failures.set(out.configId, [new DeliveryFailure('credentials_rejected', 'HTTP 401'), new Error('x'), new Error('y')]);
    const failing = await api.post(out.exports, out.token, { records: [expenseClaim()], deliver: true });
    const failed = await waitForRun(`${out.exports}/${failing.body.id}`, out.token, (r) => r.status === 'failed');
    expect(sink.callsFor(out.configId)).toHaveLength(3);
    expect(failed.delivery).toMatchObject({ attempts: 3, delivered_count: 0, next_attempt_at: null, last_error: 'y' });
    expect((await syncRuns(out.configId))[0]).toMatchObject({ status: 'failed', error: 'credentials_rejected' });
  });

  it('a refused row is failed with its message (every secret of the organization scrubbed) and the others go on: partially_delivered', async () => {
    const { org, token, configId, exports } = await setup();
    expect((await api.post(`/v1/organizations/${org}/integrations`, token, { ...hlfPortalConfig(), enabled: false, client_secret: OTHER_SECRET })).status).toBe(201);
    sink.refuse = new Set([1]);
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'partially_delivered');
    expect(run.delivery).toMatchObject({ delivered_count: 2, failed_count: 1 });
    const rows = (await api.get(`${exports}/${res.body.id}/rows`, token)).body.items;
    expect(rows[1]).toMatchObject({ status: 'failed', external_id: null });
    expect(rows[1].error).toContain('account closed');
    expect(rows[1].error).not.toContain(API_KEY);
    expect(rows[1].error).not.toContain(OTHER_SECRET);
    expect((await syncRuns(configId))[0]).toMatchObject({ status: 'partial', records_pushed: 2 });
  });

  it('stores what the system answered as far as PostgreSQL can: NUL and unpaired surrogates in its words as U+FFFD; an id it cannot store as it is, not at all', async () => {
    const { token, configId, exports } = await setup();
    // A first attempt failed as a whole, the system's message with a NUL in it; the retry's rows answered with more.
    sink.failures.set(configId, [new Error('gateway said \u0000 no')]);
    sink.answer = (row) => {
      if (row.index === 0) return { index: 0, status: 'failed', error: 'refused \u0000 here \uD800 and \uDC00' };
      if (row.index === 1) return { index: 1, status: 'delivered', externalId: 'GL-\u0000-1' };
      if (row.index === 2) return { index: 2, status: 'delivered', externalId: 'G'.repeat(256) };
      return undefined;
    };
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'partially_delivered');
    expect(run.delivery).toMatchObject({ attempts: 2, delivered_count: 2, failed_count: 1, last_error: '1 row refused' });
    const rows = (await api.get(`${exports}/${res.body.id}/rows`, token)).body.items;
    expect(rows.map((r: any) => [r.status, r.external_id, r.error])).toEqual([
      ['failed', null, 'refused \uFFFD here \uFFFD and \uFFFD'],
      ['delivered', null, null],
      ['delivered', null, null],
    ]);
    expect((await syncRuns(configId)).map((r) => [r.status, r.error])).toEqual([
      ['failed', 'gateway said \uFFFD no'],
      ['partial', '1 row refused by the external system'],
    ]);
  });

  it('a config sent elsewhere or with other credentials mid-attempt: the rest goes where and as it now says, the stop uncounted (config_changed)', async () => {
    const { token, configId, configPath, exports } = await setup();
    const res = await api.post(exports, token, { records: Array.from({ length: 9 }, () => expenseClaim()), deliver: true });
    const moved = { base_url: 'https://api.other-xledger.example/graphql', api_key: 'xl-key-new-0123456789abcdef' };
    whileFirstBatchIsSent(configId, async () => {
      expect((await api.patch(configPath, token, moved)).status).toBe(200);
    });
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(run.delivery).toMatchObject({ attempts: 1, delivered_count: 9 });
    expect(sink.callsFor(configId).map((c) => [c.references.length, c.baseUrl, c.apiKey])).toEqual([
      [3, 'https://x.example', API_KEY],
      [3, moved.base_url, moved.api_key],
      [3, moved.base_url, moved.api_key],
    ]);
    expect((await syncRuns(configId)).map((r) => [r.status, r.records_pushed, r.error])).toEqual([
      ['partial', 3, 'config_changed'],
      ['success', 6, null],
    ]);
  });

  it("refusals are the data's fault, not the connection's: five runs in a row whose every row was refused do not pause the config", async () => {
    const { token, configId, configPath, exports } = await setup();
    sink.refuse = new Set([0]);
    // ALERT_PAUSE_AFTER_FAILURES is 5 (the default): five failed attempts in a row would pause it.
    for (let i = 0; i < 5; i++) {
      const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
      await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'failed');
    }
    expect((await syncRuns(configId)).map((r) => r.status)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
    expect((await api.get(configPath, token)).body.paused).toBe(false);
    sink.refuse = new Set();
    const valid = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    expect((await waitForRun(`${exports}/${valid.body.id}`, token, (r) => r.status === 'delivered')).status).toBe('delivered');
  });

  it("records a lost worker's attempt as failed (worker_lost) and retries it", async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    // As a worker that died mid-attempt leaves it.
    await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 1 WHERE id = $1`, [res.body.id]);
    expect((await api.post(`${configPath}/sync`, token, {})).body).toEqual({ queued_runs: 1 });
    const done = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(done.delivery.attempts).toBe(2);
    expect((await syncRuns(configId)).map((r) => [r.status, r.error])).toEqual([
      ['failed', 'worker_lost'],
      ['success', null],
    ]);
  });

  it('records what a lost attempt delivered (partial), and fails the run when the lost attempt was its last', async () => {
    const partly = await setup({ sync_frequency: 'manual' });
    const run = await api.post(partly.exports, partly.token, { records: [expenseClaim(), expenseClaim(), expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    // A worker that stored its first batch's outcomes, then died.
    await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 1 WHERE id = $1`, [run.body.id]);
    await t.dataSource.query(`UPDATE export_run_rows SET status = 'delivered', external_id = 'GL-early' WHERE export_run_id = $1 AND index < 3`, [run.body.id]);
    expect((await api.post(`${partly.configPath}/sync`, partly.token, {})).status).toBe(202);
    expect((await waitForRun(`${partly.exports}/${run.body.id}`, partly.token, (r) => r.status === 'delivered')).delivery).toMatchObject({ attempts: 2, delivered_count: 5 });
    expect(await syncRuns(partly.configId)).toEqual([
      { status: 'partial', records_pushed: 3, error: 'worker_lost' },
      { status: 'success', records_pushed: 2, error: null },
    ]);
    expect(sink.callsFor(partly.configId).flatMap((c) => c.references)).toEqual([3, 4].map((i) => `meander:${run.body.id}:${i}`));

    // DELIVERY_MAX_ATTEMPTS is 3 here: a run whose third attempt was lost is failed, not tried a fourth time.
    const last = await setup({ sync_frequency: 'manual' });
    const lastRun = await api.post(last.exports, last.token, { records: [expenseClaim()], deliver: true });
    await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 3 WHERE id = $1`, [lastRun.body.id]);
    expect((await api.post(`${last.configPath}/sync`, last.token, {})).status).toBe(202);
    const failed = await waitForRun(`${last.exports}/${lastRun.body.id}`, last.token, (r) => r.status === 'failed');
    expect(failed.delivery).toMatchObject({ attempts: 3, delivered_count: 0, last_error: 'worker_lost' });
    expect(await syncRuns(last.configId)).toEqual([{ status: 'failed', records_pushed: 0, error: 'worker_lost' }]);
    expect(sink.callsFor(last.configId)).toEqual([]);

    // A last attempt that delivered every row before it was lost leaves nothing to fail: the run settles delivered.
    const done = await setup({ sync_frequency: 'manual' });
    const doneRun = await api.post(done.exports, done.token, { records: [expenseClaim(), expenseClaim()], deliver: true });
    await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 3 WHERE id = $1`, [doneRun.body.id]);
    await t.dataSource.query(`UPDATE export_run_rows SET status = 'delivered' WHERE export_run_id = $1`, [doneRun.body.id]);
    expect((await api.post(`${done.configPath}/sync`, done.token, {})).status).toBe(202);
    const settled = await waitForRun(`${done.exports}/${doneRun.body.id}`, done.token, (r) => r.status !== 'delivering' && r.status !== 'queued');
    expect({ status: settled.status, delivered: settled.delivery.delivered_count }).toEqual({ status: 'delivered', delivered: 2 });
    expect((await syncRuns(done.configId))[0]).toEqual({ status: 'partial', records_pushed: 2, error: 'worker_lost' });
    expect(sink.callsFor(done.configId)).toEqual([]);
  });

  it('a lost attempt of a config disabled since is recorded when its job comes back, and the run waits queued, not delivering', async () => {
    const { org, token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 1 WHERE id = $1`, [res.body.id]);
    expect((await api.patch(configPath, token, { enabled: false })).status).toBe(200);
    // The lost worker's job, retried by the queue after it expired.
    await t.app.get(JobQueue).enqueueDelivery({ orgId: org, integrationId: configId });
    const waiting = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status !== 'delivering');
    expect({ status: waiting.status, attempts: waiting.delivery.attempts }).toEqual({ status: 'queued', attempts: 1 });
    expect((await syncRuns(configId)).map((r) => [r.status, r.error])).toEqual([['failed', 'worker_lost']]);
    expect(sink.callsFor(configId)).toEqual([]);
  });

  it('two lost attempts in a row: each is recorded with the rows it delivered, not those of the one before', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: Array.from({ length: 6 }, () => expenseClaim()), deliver: true });
    const runId = res.body.id as string;
    // The first lost attempt delivered rows 0-2.
    await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 1 WHERE id = $1`, [runId]);
    await t.dataSource.query(`UPDATE export_run_rows SET status = 'delivered' WHERE export_run_id = $1 AND index < 3`, [runId]);
    // The second stores rows 3-4, then loses its lock's connection (as its worker would die) before storing more.
    whileFirstBatchIsSent(configId, async () => {
      await t.dataSource.query(`UPDATE export_run_rows SET status = 'delivered' WHERE export_run_id = $1 AND index IN (3, 4)`, [runId]);
      await t.dataSource.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND classid = ${0x4d44} AND objsubid = 2 AND objid::int8 = (hashtext($1)::int8 + 4294967296) % 4294967296`,
        [configId],
      );
    });
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    // pg-boss retries the failed job (1 s); the third attempt records the second and delivers row 5.
    await waitForRun(`${exports}/${runId}`, token, (r) => r.status === 'delivered');
    expect(await syncRuns(configId)).toEqual([
      { status: 'partial', records_pushed: 3, error: 'worker_lost' },
      { status: 'partial', records_pushed: 2, error: 'worker_lost' },
      { status: 'success', records_pushed: 1, error: null },
    ]);
  });

  it('keeps only the answered outcomes of rows the failed batch sent: one for a row it did not send settles nothing', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: Array.from({ length: 5 }, () => expenseClaim()), deliver: true });
    // The first batch is rows 0-2; a host's connector answers for row 0 and, wrongly, for row 4.
    const answered: RowOutcome[] = [
      { index: 0, status: 'delivered', externalId: 'GL-0' },
      { index: 4, status: 'delivered', externalId: 'GL-never-sent' },
    ];
    // Retry-After 10 minutes: the run stays as this attempt left it while it is read.
    sink.failures.set(configId, [new DeliveryFailure('retryable', 'Service Unavailable', 600, answered)]);
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    expect((await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'queued' && r.delivery.attempts === 1)).delivery.attempts).toBe(1);
    const stored = await t.dataSource.query(`SELECT index, status, external_id FROM export_run_rows WHERE export_run_id = $1 AND index IN (0, 4) ORDER BY index`, [res.body.id]);
    expect(stored).toEqual([
      { index: 0, status: 'delivered', external_id: 'GL-0' },
      { index: 4, status: 'pending', external_id: null },
    ]);
  });

  it("a run out of attempts is failed and the config's next run goes in the same job", async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const first = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    const second = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    // DELIVERY_MAX_ATTEMPTS is 3 here: the first run's next attempt is its last, and it fails.
    await t.dataSource.query(`UPDATE export_runs SET delivery_attempts = 2 WHERE id = $1`, [first.body.id]);
    sink.failures.set(configId, [new DeliveryFailure('retryable', 'Service Unavailable')]);
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    expect((await waitForRun(`${exports}/${second.body.id}`, token, (r) => r.status === 'delivered')).status).toBe('delivered');
    expect((await api.get(`${exports}/${first.body.id}`, token)).body).toMatchObject({ status: 'failed', delivery: { attempts: 3 } });
  });

  it('an attempt that lost its lock stores nothing more: the attempt holding the config now is the only one recorded', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    sink.beforeBatch = async (id) => {
      if (id !== configId || ++calls > 1) return;
      // The lock's connection is lost mid-batch (a network cut, a server restart of the backend): the lock goes with it.
      const killed = await t.dataSource.query(
        `SELECT pg_terminate_backend(pid) AS done FROM pg_locks
         WHERE locktype = 'advisory' AND classid = ${0x4d44} AND objsubid = 2 AND objid::int8 = (hashtext($1)::int8 + 4294967296) % 4294967296`,
        [configId],
      );
      expect(killed).toEqual([{ done: true }]);
      await released;
    };
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    expect(
      await waitFor(
        async () => calls,
        (n) => n === 1,
      ),
    ).toBe(1);
    // Meanwhile another attempt takes the config, records the first as lost and delivers the run.
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(run.delivery.attempts).toBe(2);
    // The first attempt's batch now answers: its outcomes, sync run and the run's state are not written.
    release();
    await waitFor(
      async () =>
        (await t.dataSource.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state = 'active'`, [configId]))[0].n,
      (n) => n === 0,
    );
    expect(await syncRuns(configId)).toEqual([
      { status: 'failed', records_pushed: 0, error: 'worker_lost' },
      { status: 'success', records_pushed: 3, error: null },
    ]);
    expect((await api.get(`${exports}/${res.body.id}`, token)).body.delivery).toMatchObject({ attempts: 2, delivered_count: 3 });
  });

  it("sends a scheduled config's runs at its next slot, in its time zone; a new schedule takes over the waiting runs", async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const current = await api.get(configPath, token);
    expect((await api.patch(configPath, token, { sync_frequency: 'daily', extra_config: { sync_time_zone: 'Europe/Oslo' } }, { 'If-Match': current.headers.etag })).status).toBe(
      200,
    );
    const slotBefore = nextSlot('daily', new Date(), 'Europe/Oslo') as Date;
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    expect(res.status).toBe(202);
    const slotAfter = nextSlot('daily', new Date(), 'Europe/Oslo') as Date;
    // One job for the config, waiting for the next midnight in Oslo (the queue's own table): a
    // day after the last, however long that day is (23 or 25 hours when the clocks change).
    const [job] = await t.dataSource.query(`SELECT start_after FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state = 'created'`, [configId]);
    const oslo = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Oslo', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(job.start_after);
    expect(oslo).toBe('00:00');
    expect([slotBefore.toISOString(), slotAfter.toISOString()]).toContain(new Date(job.start_after).toISOString());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sink.callsFor(configId)).toHaveLength(0);

    // A manual config's waiting run goes as soon as the config turns realtime.
    const manual = await setup({ sync_frequency: 'manual' });
    const waiting = await api.post(manual.exports, manual.token, { records: [expenseClaim()], deliver: true });
    const before = await api.get(manual.configPath, manual.token);
    expect((await api.patch(manual.configPath, manual.token, { sync_frequency: 'realtime' }, { 'If-Match': before.headers.etag })).status).toBe(200);
    expect((await waitForRun(`${manual.exports}/${waiting.body.id}`, manual.token, (r) => r.status === 'delivered')).status).toBe('delivered');
  });

  describe("a config's one waiting job", () => {
    const waitingJobs = async (configId: string) =>
      (await t.dataSource.query(`SELECT start_after, keep_until FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state = 'created'`, [configId])) as {
        start_after: Date;
        keep_until: Date;
      }[];

    /** A daily config (UTC) with one run waiting for tonight's midnight. */
    async function dailyWithWaitingRun() {
      const daily = await setup({ sync_frequency: 'daily' });
      const run = await api.post(daily.exports, daily.token, { records: [expenseClaim()], deliver: true });
      expect(run.status).toBe(202);
      const [job] = await waitingJobs(daily.configId);
      expect(new Date(job.start_after).getUTCHours()).toBe(0);
      expect(new Date(job.start_after).getTime()).toBeGreaterThan(Date.now());
      return { ...daily, run: `${daily.exports}/${run.body.id}` };
    }

    const patch = async (config: { configPath: string; token: string }, body: Record<string, unknown>) => {
      const current = await api.get(config.configPath, config.token);
      expect((await api.patch(config.configPath, config.token, body, { 'If-Match': current.headers.etag })).status).toBe(200);
    };

    it("POST …/sync sends a scheduled config's runs now, not at the slot its job waits for", async () => {
      const daily = await dailyWithWaitingRun();
      expect((await api.post(`${daily.configPath}/sync`, daily.token, {})).status).toBe(202);
      expect((await waitForRun(daily.run, daily.token, (r) => r.status === 'delivered')).delivery.attempts).toBe(1);
      expect(sink.callsFor(daily.configId)).toHaveLength(1);
    });

    it("POST …/sync sends a run waiting out the engine's backoff now (its cause fixed), and the runs queued after it", async () => {
      const { token, configPath, exports } = await setup({ sync_frequency: 'manual' });
      const first = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
      // As a failed attempt leaves it with a long backoff (DELIVERY_BACKOFF_BASE_MS is short here), no Retry-After from the system.
      await t.dataSource.query(`UPDATE export_runs SET delivery_attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [first.body.id]);
      const second = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
      expect((await api.post(`${configPath}/sync`, token, {})).body).toEqual({ queued_runs: 2 });
      expect((await waitForRun(`${exports}/${first.body.id}`, token, (r) => r.status === 'delivered')).delivery).toMatchObject({ attempts: 2, next_attempt_at: null });
      expect((await waitForRun(`${exports}/${second.body.id}`, token, (r) => r.status === 'delivered')).delivery.attempts).toBe(1);
    });

    it("POST …/sync skips a wait the connector only guessed (Xledger's sample wait when it names none), like the backoff", async () => {
      const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
      sink.failures.set(configId, [new DeliveryFailure('retryable', 'BAD_REQUEST.INSUFFICIENT_CREDITS', 1200, [], false)]);
      const run = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
      expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
      await waitForRun(`${exports}/${run.body.id}`, token, (r) => r.delivery.attempts === 1 && r.status === 'queued');
      // Credits topped up, the admin asks: sent now, not 20 minutes on.
      expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
      expect((await waitForRun(`${exports}/${run.body.id}`, token, (r) => r.status === 'delivered')).delivery.attempts).toBe(2);
    });

    it("POST …/sync keeps the system's own Retry-After: the run waits for it, the job with it", async () => {
      const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
      sink.failures.set(configId, [new DeliveryFailure('retryable', 'HTTP 429', 3600)]);
      const run = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
      expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
      const waiting = await waitForRun(`${exports}/${run.body.id}`, token, (r) => r.delivery.attempts === 1 && r.status === 'queued');
      const retryAt = new Date(waiting.delivery.next_attempt_at).getTime();
      expect(retryAt).toBeGreaterThan(Date.now() + 3_500_000);
      expect((await api.post(`${configPath}/sync`, token, {})).body).toEqual({ queued_runs: 1 });
      // The job taken at once finds the run's wait and goes back to the queue for it: nothing sent meanwhile.
      const [deferred] = await waitFor(
        () => waitingJobs(configId),
        (jobs) => jobs.length === 1 && new Date(jobs[0].start_after).getTime() > Date.now() + 3_000_000,
      );
      expect(Math.abs(new Date(deferred.start_after).getTime() - retryAt)).toBeLessThan(5_000);
      expect(sink.callsFor(configId)).toHaveLength(1);
      expect((await api.get(`${exports}/${run.body.id}`, token)).body.delivery).toMatchObject({ attempts: 1 });
    });

    it('a new schedule moves the waiting job: sooner (realtime: now), later (weekly), or away (manual)', async () => {
      const toRealtime = await dailyWithWaitingRun();
      await patch(toRealtime, { sync_frequency: 'realtime' });
      expect((await waitForRun(toRealtime.run, toRealtime.token, (r) => r.status === 'delivered')).status).toBe('delivered');

      const toLater = await dailyWithWaitingRun();
      const [tonight] = await waitingJobs(toLater.configId);
      // Whatever today is, one of these is later than tonight's midnight (UTC): Monday's midnight, the
      // month's first, or on a Sunday (the last of a month too) Monday's midnight at UTC−12 (noon UTC).
      const schedules = [
        { sync_frequency: 'weekly', zone: 'UTC' },
        { sync_frequency: 'monthly', zone: 'UTC' },
        { sync_frequency: 'weekly', zone: 'Etc/GMT+12' },
      ] as const;
      const slotOf = (schedule: (typeof schedules)[number]) => nextSlot(schedule.sync_frequency, new Date(), schedule.zone) as Date;
      const later = schedules.find((schedule) => slotOf(schedule) > new Date(tonight.start_after))!;
      expect(later).toBeDefined();
      await patch(toLater, { sync_frequency: later.sync_frequency, extra_config: { sync_time_zone: later.zone } });
      const moved = await waitingJobs(toLater.configId);
      expect(moved.map((j) => new Date(j.start_after).toISOString())).toEqual([slotOf(later).toISOString()]);
      // pg-boss archives a waiting job past its keep_until: moved with it.
      expect(new Date(moved[0].keep_until).getTime()).toBeGreaterThan(new Date(moved[0].start_after).getTime());

      const toManual = await dailyWithWaitingRun();
      await patch(toManual, { sync_frequency: 'manual' });
      expect(await waitingJobs(toManual.configId)).toEqual([]);
      // The run still waits, for POST …/sync.
      expect((await api.get(toManual.run, toManual.token)).body.status).toBe('queued');
      expect((await api.post(`${toManual.configPath}/sync`, toManual.token, {})).status).toBe(202);
      expect((await waitForRun(toManual.run, toManual.token, (r) => r.status === 'delivered')).status).toBe('delivered');
    });

    it('the sweep gives runs whose job was given up a job again, by their schedule or retry; a waiting job is never pushed back', async () => {
      const sweep = () => t.app.get(DeliveryService).requeueStranded();
      // A daily config's job, given up (pg-boss's own retries ran out while the database was away).
      const daily = await dailyWithWaitingRun();
      const [slot] = await waitingJobs(daily.configId);
      await t.dataSource.query(`DELETE FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1`, [daily.configId]);
      // A manual config's run left delivering by a lost worker whose job was given up: due now.
      const lostRun = await queuedRun(1);
      await t.dataSource.query(`UPDATE export_runs SET status = 'delivering', delivery_attempts = 1 WHERE id = $1`, [lostRun.runId]);
      // A manual config's run whose retry job was given up: due again now.
      const manual = await setup({ sync_frequency: 'manual' });
      const retried = await api.post(manual.exports, manual.token, { records: [expenseClaim()], deliver: true });
      await t.dataSource.query(`UPDATE export_runs SET delivery_attempts = 1, next_attempt_at = now() - interval '1 minute' WHERE id = $1`, [retried.body.id]);
      // A daily config whose job waits for a sooner time than its slot (a retry) keeps it.
      const sooner = await dailyWithWaitingRun();
      // (TypeORM answers an UPDATE with [rows, count].)
      const [[{ at }]] = await t.dataSource.query(
        `UPDATE pgboss.job SET start_after = now() + interval '30 seconds' WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state = 'created' RETURNING start_after AS at`,
        [sooner.configId],
      );
      await sweep();
      expect(await waitingJobs(daily.configId)).toEqual([slot]);
      expect((await waitForRun(`${manual.exports}/${retried.body.id}`, manual.token, (r) => r.status === 'delivered')).delivery.attempts).toBe(2);
      const runStatus = async (id: string) => ((await t.dataSource.query(`SELECT status FROM export_runs WHERE id = $1`, [id])) as { status: string }[])[0].status;
      expect(
        await waitFor(
          () => runStatus(lostRun.runId),
          (status) => status === 'delivered',
        ),
      ).toBe('delivered');
      const [kept] = await waitingJobs(sooner.configId);
      expect(new Date(kept.start_after).getTime()).toBeLessThanOrEqual(new Date(at).getTime());
    });

    it("counts a wait by the database's clock: an instance whose clock lags it by 3 s queues neither a busy config's look again nor a retry as due already", async () => {
      const delivery = t.app.get(DeliveryService);
      const busy = { orgId: randomUUID(), integrationId: randomUUID() };
      const lagging = await setup({ sync_frequency: 'manual' });
      sink.failures.set(lagging.configId, [new DeliveryFailure('retryable', 'upstream 503', 5)]);
      const run = await api.post(lagging.exports, lagging.token, { records: [expenseClaim()], deliver: true });
      // Another attempt holds the busy config (a session of its own, as an instance's lock is).
      const holder = t.dataSource.createQueryRunner();
      await holder.query(`SELECT pg_advisory_lock(${0x4d44}, hashtext($1))`, [busy.integrationId]);
      // The database's clock as each wait begins: a job's start is measured from it.
      const databaseNow = async () => ((await t.dataSource.query('SELECT clock_timestamp() AS at')) as { at: Date }[])[0].at.getTime();
      const realNow = Date.now.bind(Date);
      let busyFrom: number;
      let retryFrom: number;
      jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_000);
      try {
        busyFrom = await databaseNow();
        await delivery.deliverConfig(busy);
        retryFrom = await databaseNow();
        await delivery.deliverConfig({ orgId: lagging.org, integrationId: lagging.configId });
      } finally {
        jest.mocked(Date.now).mockRestore();
        await holder.query(`SELECT pg_advisory_unlock(${0x4d44}, hashtext($1))`, [busy.integrationId]);
        await holder.release();
      }
      // Every job of the config, taken since or not.
      const startsOf = async (configId: string) =>
        ((await t.dataSource.query(`SELECT start_after FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1`, [configId])) as { start_after: Date }[]).map(
          (job) => job.start_after.getTime(),
        );
      // The look again 2 s, the retry the upstream's 5 s after, by the database's clock (by this instance's, 1 s and 4 s after).
      const [busyStart, ...moreBusy] = await startsOf(busy.integrationId);
      expect(moreBusy).toEqual([]);
      expect(busyStart - busyFrom!).toBeGreaterThanOrEqual(2_000);
      expect((await api.get(`${lagging.exports}/${run.body.id}`, lagging.token)).body.delivery).toMatchObject({ attempts: 1, last_error: 'upstream 503' });
      const [retryStart, ...moreRetries] = await startsOf(lagging.configId);
      expect(moreRetries).toEqual([]);
      expect(retryStart - retryFrom!).toBeGreaterThanOrEqual(5_000);
    });

    it('a config whose type has no connector in this instance keeps its runs queued and its job comes back a minute on (another instance may have it)', async () => {
      const { org, token, configId, exports } = await setup({ sync_frequency: 'manual' });
      const run = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
      // This instance lacks the connector (a host application's own type, registered elsewhere).
      const find = jest.spyOn(ConnectorRegistry.prototype, 'find').mockReturnValue(undefined);
      let from: number;
      try {
        from = ((await t.dataSource.query('SELECT clock_timestamp() AS at')) as { at: Date }[])[0].at.getTime();
        await t.app.get(DeliveryService).deliverConfig({ orgId: org, integrationId: configId });
      } finally {
        find.mockRestore();
      }
      const [job, ...more] = await waitingJobs(configId);
      expect(more).toEqual([]);
      expect(new Date(job.start_after).getTime() - from!).toBeGreaterThanOrEqual(60_000);
      expect((await api.get(`${exports}/${run.body.id}`, token)).body).toMatchObject({ status: 'queued', delivery: { attempts: 0 } });
      expect(sink.callsFor(configId)).toHaveLength(0);
      expect(t.logs.some((line) => line.includes('"no_connector"') && line.includes(configId))).toBe(true);
    });

    it("the sweep's look reads only the waiting runs (a partial index), not every export kept", async () => {
      const { runId } = await queuedRun(1);
      const runner = t.dataSource.createQueryRunner();
      await runner.startTransaction();
      try {
        // 50,000 settled runs of history, ANALYZEd (rolled back below).
        await runner.query(
          `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by)
           SELECT organization_id, integration_id, 'delivered', started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by
           FROM export_runs, generate_series(1, 50000) WHERE id = $1`,
          [runId],
        );
        await runner.query(`ANALYZE export_runs`);
        const [{ 'QUERY PLAN': plan }] = await runner.query(`EXPLAIN (FORMAT JSON) ${CONFIGS_WITH_DELIVERABLE_RUNS}`);
        expect(JSON.stringify(plan)).toContain('"Index Name":"idx_export_runs_deliverable"');
      } finally {
        await runner.rollbackTransaction();
        await runner.release();
      }
    });

    it("a failed attempt's retry is not held behind the slot a run queued meanwhile waits for", async () => {
      const daily = await setup({ sync_frequency: 'daily' });
      const first = await api.post(daily.exports, daily.token, { records: [expenseClaim()], deliver: true });
      sink.failures.set(daily.configId, [new DeliveryFailure('retryable', 'Service Unavailable')]);
      // While the attempt runs, another run is queued: its export leaves the job for tonight's slot.
      whileFirstBatchIsSent(daily.configId, async () => expect((await api.post(daily.exports, daily.token, { records: [expenseClaim()], deliver: true })).status).toBe(202));
      expect((await api.post(`${daily.configPath}/sync`, daily.token, {})).status).toBe(202);
      // The retry (backoff 200 ms here) goes long before midnight, and takes the other run with it.
      const run = await waitForRun(`${daily.exports}/${first.body.id}`, daily.token, (r) => r.status === 'delivered');
      expect(run.delivery.attempts).toBe(2);
    });
  });

  it("a config whose attempt is running, with more queued for it, holds up no other config's delivery", async () => {
    const busy = await setup({ sync_frequency: 'manual' });
    const other = await setup();
    await api.post(busy.exports, busy.token, { records: [expenseClaim()], deliver: true });
    // The busy config's attempt waits inside its first batch until released.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered = false;
    whileFirstBatchIsSent(busy.configId, async () => {
      entered = true;
      await released;
    });
    expect((await api.post(`${busy.configPath}/sync`, busy.token, {})).status).toBe(202);
    for (let waited = 0; !entered && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(entered).toBe(true);
    // A second run queued for the busy config while its attempt is active, then another config's run.
    await api.post(busy.exports, busy.token, { records: [expenseClaim()], deliver: true });
    expect((await api.post(`${busy.configPath}/sync`, busy.token, {})).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await api.post(other.exports, other.token, { records: [expenseClaim()], deliver: true });
    try {
      expect((await waitForRun(`${other.exports}/${res.body.id}`, other.token, (r) => r.status === 'delivered', 10_000)).status).toBe('delivered');
    } finally {
      release();
    }
    // Both of the busy config's runs go once it is free, one attempt at a time.
    const runs = await waitForRun(busy.exports, busy.token, (page) => page.items?.every((r: { status: string }) => r.status === 'delivered'));
    expect(runs.items.map((r: { status: string }) => r.status)).toEqual(['delivered', 'delivered']);
    expect(sink.callsFor(busy.configId)).toHaveLength(2);
  });

  it('one attempt per config at a time: a job for a config another attempt holds waits, and runs after it', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    const locks = t.app.get(DeliveryLocks);
    // Another instance's attempt, as the lock sees it.
    const held = await locks.withConfigLock(configId, async () => {
      expect(await locks.withConfigLock(configId, async () => 'second')).toEqual({ acquired: false });
      expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
      // A worker took the job, found the config held and queued it again for later: it did not wait, nor send.
      const requeued = async () =>
        (
          await t.dataSource.query(
            `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state = 'created' AND start_after > now() + interval '1 second'`,
            [configId],
          )
        )[0].n as number;
      expect(await waitFor(requeued, (n) => n === 1)).toBe(1);
      expect(sink.callsFor(configId)).toHaveLength(0);
      return 'first';
    });
    expect(held).toEqual({ acquired: true, value: 'first' });
    expect((await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered')).delivery.attempts).toBe(1);
    expect(sink.callsFor(configId)).toHaveLength(1);
  });

  it('sends nothing more once the config is deleted mid-delivery', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    await api.post(exports, token, { records: Array.from({ length: 7 }, () => expenseClaim()), deliver: true });
    let deleted = false;
    whileFirstBatchIsSent(configId, async () => {
      deleted = true;
      expect((await api.delete(configPath, token)).status).toBe(204);
    });
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    for (let waited = 0; !deleted && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    await jobsWorked(configId);
    expect(sink.callsFor(configId)).toHaveLength(1);
    const [{ n }] = await t.dataSource.query(`SELECT count(*)::int AS n FROM export_runs WHERE integration_id = $1`, [configId]);
    expect(n).toBe(0);
  });

  it('a config deleted during its last batch ends the job quietly: nothing left to record, no failed job', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    let deleted = false;
    whileFirstBatchIsSent(configId, async () => {
      expect((await api.delete(configPath, token)).status).toBe(204);
      deleted = true;
    });
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    const jobStates = async () =>
      ((await t.dataSource.query(`SELECT state FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1`, [configId])) as { state: string }[]).map((j) => j.state);
    await waitFor(jobStates, (states) => deleted && states.length > 0 && states.every((state) => state !== 'created' && state !== 'active'));
    expect(sink.callsFor(configId)).toHaveLength(1);
    // Failed, it would be retried (state retry) and logged as an error: the config's runs went with it.
    expect(await jobStates()).toEqual(['completed']);
  });

  it('egress_destination_not_allowed: a connection test to a loopback or metadata address is 422, a delivery attempt to one fails; both audited', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const base = `/v1/organizations/${org}/integrations`;
    const dataverse = {
      integration_type: 'dynamics',
      display_name: 'D365',
      client_id: 'c',
      client_secret: 'dynamics-secret-0123456789',
      tenant_id: 'tenant',
      sync_frequency: 'realtime',
      extra_config: { entity_set: 'cr123_expenses', alternate_key: 'cr123_ref' },
    };
    // Disabled: a connection test is still allowed (it sends no claim data). Its first request, the
    // token at DYNAMICS_AUTHORITY_URL (loopback here), is refused: the operator's URL, so no field named.
    const created = await api.post(base, token, { ...dataverse, base_url: 'https://169.254.169.254', enabled: false });
    expect(created.status).toBe(201);
    const refused = await api.post(`${base}/${created.body.id}/connection-test`, token, {});
    expectProblem(refused, 422, 'egress_destination_not_allowed');
    expect(refused.body.errors ?? []).toEqual([]);
    expect(refused.body.detail).toContain('127.0.0.1:9');
    expect(t.logs.some((l) => l.includes('"event":"egress_refused"') && l.includes('127.0.0.1:9'))).toBe(true);
    expectProblem(await api.post(`/v1/organizations/${newOrgId()}/integrations/${created.body.id}/connection-test`, token, {}), 403, 'org_scoped_access_only');

    // A delivery attempt: its first request (the token, on loopback here) is refused, and the attempt fails with the rule.
    const current = await api.get(`${base}/${created.body.id}`, token);
    expect(
      (
        await api.patch(
          `${base}/${created.body.id}`,
          token,
          { base_url: 'https://localhost:9', client_secret: dataverse.client_secret, enabled: true },
          { 'If-Match': current.headers.etag },
        )
      ).status,
    ).toBe(200);
    const mappings = [
      { source_field: 'expense_amount', target_field: 'ExpenseAmount', is_required: true },
      { source_field: 'expense_date', target_field: 'ExpenseDate', is_required: true },
      { source_field: 'peer_mentor_id', target_field: 'ContactId', is_required: true, default_value: '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f' },
    ];
    expect((await api.post(`${base}/${created.body.id}/field-mappings/bulk`, token, { items: mappings })).status).toBe(201);
    const res = await api.post(`${base}/${created.body.id}/exports`, token, { records: [expenseClaim()], deliver: true });
    expect(res.status).toBe(202);
    // All three attempts (DELIVERY_MAX_ATTEMPTS here): a trail read between two of them would race the next.
    const run = await waitForRun(`${base}/${created.body.id}/exports/${res.body.id}`, token, (r) => r.status === 'failed');
    expect(run.delivery).toMatchObject({ attempts: 3, last_error: 'egress_destination_not_allowed' });
    expect((await syncRuns(created.body.id)).map((r) => [r.status, r.error])).toEqual(Array(3).fill(['failed', 'egress_destination_not_allowed']));
    expect(t.logs.join('\n')).not.toContain('dynamics-secret-0123456789');
    // Every refusal is in the organization's trail: what for, by whom (a delivery's by no one: the engine's, not the
    // admin's who queued it, nor a sync service's), the host judged (the token endpoint's, the operator's) and the kind
    // of address refused, never the address (how internal names resolve is not the tenant's to learn).
    const trail = await api.get(`/v1/organizations/${org}/audit-events?action=egress.refused`, token);
    const byDelivery = [created.body.id, null, { purpose: 'delivery', host: '127.0.0.1:9', refused: 'loopback' }];
    expect(
      trail.body.items.map((e: { resource_id: string; actor: { role: string } | null; details: Record<string, unknown> }) => [e.resource_id, e.actor?.role ?? null, e.details]),
    ).toEqual([byDelivery, byDelivery, byDelivery, [created.body.id, 'org_admin', { purpose: 'connection_test', host: '127.0.0.1:9', refused: 'loopback' }]]);
  });

  it('POST …/sync records delivery.requested with its job, in one transaction: a job that cannot be queued leaves no event', async () => {
    const { org, token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    expect((await api.post(exports, token, { records: [expenseClaim()], deliver: true })).status).toBe(202);
    const requested = async () =>
      (
        (await t.dataSource.query(
          `SELECT count(*)::int AS n FROM audit_events WHERE organization_id = $1 AND action = 'delivery.requested' AND resource_type = 'integration_config'`,
          [org],
        )) as { n: number }[]
      )[0].n;
    await t.dataSource.query(`
      CREATE OR REPLACE FUNCTION refuse_delivery_job() RETURNS trigger AS $$
      BEGIN IF NEW.singleton_key = '${configId}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await t.dataSource.query(`CREATE TRIGGER refuse_delivery_job BEFORE INSERT ON pgboss.job FOR EACH ROW EXECUTE FUNCTION refuse_delivery_job()`);
    try {
      expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(500);
    } finally {
      await t.dataSource.query(`DROP TRIGGER refuse_delivery_job ON pgboss.job`);
      await t.dataSource.query(`DROP FUNCTION refuse_delivery_job()`);
    }
    expect(await requested()).toBe(0);
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    expect(await requested()).toBe(1);
  });

  it('refuses what the contract refuses: a global admin, a disabled config, a non-boolean deliver', async () => {
    const { org, token, configPath, exports } = await setup();
    expectProblem(await api.post(exports, await t.token('global_admin'), { records: [expenseClaim()], deliver: true }), 403, 'forbidden');
    const bad = await api.post(exports, token, { records: [expenseClaim()], deliver: 'yes' });
    expectProblem(bad, 400, 'validation_failed');
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'deliver', rule: 'deliver_must_be_boolean' })]);
    const current = await api.get(configPath, token);
    expect((await api.patch(configPath, token, { enabled: false }, { 'If-Match': current.headers.etag })).status).toBe(200);
    expectProblem(await api.post(exports, token, { records: [expenseClaim()], deliver: true }), 409, 'disabled_integration_must_not_sync');
    expectProblem(await api.post(`/v1/organizations/${org}/integrations/${randomUUID()}/sync`, token, {}), 404, 'not_found');
  });

  it('credentials_required_before_enable: a config enabled without its credentials (enabled before a type needed them) takes no delivery', async () => {
    const { configId, token, exports } = await setup();
    // No write leaves an enabled config without them: the row as an older version left it.
    await t.dataSource.query(`UPDATE integration_configs SET api_key_encrypted = NULL WHERE id = $1`, [configId]);
    const refused = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    expectProblem(refused, 422, 'credentials_required_before_enable');
    expect(refused.body.errors).toEqual([expect.objectContaining({ field: 'api_key', rule: 'credentials_required_before_enable' })]);
    expect(await t.dataSource.query(`SELECT id FROM export_runs WHERE integration_id = $1`, [configId])).toEqual([]);
    // Serializing needs no credentials.
    expect((await api.post(exports, token, { records: [expenseClaim()] })).status).toBe(201);
  });

  it('a secret no key of the keyring opens (a key removed too soon): failed attempts naming the key, retried, then the run failed; no lost worker', async () => {
    const { token, configId, configPath, exports } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: [expenseClaim()], deliver: true });
    // The API key as if written under a key "gone" that ENCRYPTION_KEYS no longer lists.
    await t.dataSource.query(`UPDATE integration_configs SET api_key_encrypted = regexp_replace(api_key_encrypted, '^(enc:[^:]+):[^:]+:', '\\1:gone:') WHERE id = $1`, [configId]);
    expect((await api.post(`${configPath}/sync`, token, {})).status).toBe(202);
    // DELIVERY_MAX_ATTEMPTS is 3 here.
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'failed');
    expect(run.delivery).toMatchObject({ attempts: 3, delivered_count: 0 });
    expect(run.delivery.last_error).toContain('unknown encryption key id "gone"');
    const attempts = await syncRuns(configId);
    expect(attempts.map((a) => a.status)).toEqual(['failed', 'failed', 'failed']);
    for (const attempt of attempts) expect(attempt.error).toContain('unknown encryption key id "gone"');
    expect(sink.callsFor(configId)).toEqual([]);
  });

  // Last of this app's tests: the second app takes over Nest's logger, which is global, so t.logs would miss later lines.
  it('SIGTERM mid-delivery: the attempt stops before its next request, uncounted, and another instance carries the run on at once', async () => {
    const { token, configId, exports, org } = await setup({ sync_frequency: 'manual' });
    const res = await api.post(exports, token, { records: Array.from({ length: 6 }, () => expenseClaim()), deliver: true });
    // A second instance (its own sink, no workers of its own) works the config's job; its first batch waits for the test.
    const stoppingSink = new SinkConnector();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    stoppingSink.beforeBatch = () => released;
    const other = await startTestApp({ env: { DELIVERY_WORKERS: '0' }, connectors: [stoppingSink] });
    const otherDelivery = other.app.get(DeliveryService);
    const delivering = otherDelivery.deliverConfig({ orgId: org, integrationId: configId });
    let closed: Promise<void>;
    try {
      expect(
        await waitFor(
          async () => (await api.get(`${exports}/${res.body.id}`, token)).body.status,
          (status) => status === 'delivering',
        ),
      ).toBe('delivering');
      closed = other.close();
      // The shutdown has begun (the instance takes no job and stops its attempts) while the first batch is still out.
      expect(
        await waitFor(
          async () => otherDelivery['stopping'],
          (stopping) => stopping,
          5_000,
        ),
      ).toBe(true);
    } finally {
      release();
    }
    await delivering;
    await closed!;
    // Its first batch was answered and stored; the second was never sent.
    expect(stoppingSink.callsFor(configId)).toHaveLength(1);
    expect(await syncRuns(configId)).toEqual([{ status: 'partial', records_pushed: 3, error: 'shutdown' }]);
    // This instance's workers take the job it queued again, and deliver the rest: the stopped attempt was not counted.
    const run = await waitForRun(`${exports}/${res.body.id}`, token, (r) => r.status === 'delivered');
    expect(run.delivery).toMatchObject({ attempts: 1, delivered_count: 6 });
    expect(sink.callsFor(configId).map((call) => call.references)).toEqual([[3, 4, 5].map((i) => `meander:${res.body.id}:${i}`)]);
    expect((await syncRuns(configId)).map((r) => [r.status, r.records_pushed, r.error])).toEqual([
      ['partial', 3, 'shutdown'],
      ['success', 3, null],
    ]);
  });
});

describe('connection test with the built-in connectors (EGRESS_ALLOW_PRIVATE=false)', () => {
  let t: TestApp;
  let api: ApiClient;
  beforeAll(async () => {
    // The identity platform at a metadata address: a Dataverse config's test stops at the egress rule, nothing leaves.
    t = await startTestApp({ env: { DYNAMICS_AUTHORITY_URL: 'https://169.254.169.254' } });
    api = apiClient(t);
  });
  afterAll(() => t.close());

  it('limits connection tests per config (each may be a billed request): the seventh in a minute is 429, another config still goes', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const base = `/v1/organizations/${org}/integrations`;
    // A refused destination answers at once, and counts like any test.
    const created = await api.post(base, token, xledgerConfig({ base_url: 'https://169.254.169.254/graphql', enabled: false }));
    for (let i = 0; i < 6; i++) expect((await api.post(`${base}/${created.body.id}/connection-test`, token, {})).status).toBe(422);
    const limited = await api.post(`${base}/${created.body.id}/connection-test`, token, {});
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.body.detail).toContain('at most 6 per minute');
    // The headers name the limit that refused (6 a minute, none left), not the write budget the request also counted against.
    expect([limited.headers['ratelimit-limit'], limited.headers['ratelimit-remaining'], limited.headers['ratelimit-reset']]).toEqual(['6', '0', limited.headers['retry-after']]);
    // Another config of the organization, same token: its test goes on past the limit (to the egress rule).
    const other = await api.post(base, token, hlfPortalConfig());
    expect(other.status).toBe(201);
    const otherTest = await api.post(`${base}/${other.body.id}/connection-test`, token, {});
    expectProblem(otherTest, 422, 'egress_destination_not_allowed');
  });

  it('a stored secret no key opens (a key removed too soon): ok: false naming the column and the key, no request, no 500', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const base = `/v1/organizations/${org}/integrations`;
    const created = await api.post(base, token, xledgerConfig({ enabled: false }));
    expect(created.status).toBe(201);
    // The API key as if written under a key "gone" that ENCRYPTION_KEYS no longer lists.
    await t.dataSource.query(`UPDATE integration_configs SET api_key_encrypted = regexp_replace(api_key_encrypted, '^(enc:[^:]+):[^:]+:', '\\1:gone:') WHERE id = $1`, [
      created.body.id,
    ]);
    const res = await api.post(`${base}/${created.body.id}/connection-test`, token, {});
    expect({ status: res.status, ok: res.body.ok, latency: res.body.latency_ms }).toEqual({ status: 200, ok: false, latency: 0 });
    expect(res.body.error).toContain('integration_configs.api_key_encrypted');
    expect(res.body.error).toContain('unknown encryption key id "gone"');
    expect(JSON.stringify(res.body)).not.toContain('enc:');
  });

  // The refusal's audit line is asserted in the suite above (one app per process captures Nest's static logger).
  it("egress_destination_not_allowed names base_url when the config's own URL is refused: metadata, and loopback by name", async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const base = `/v1/organizations/${org}/integrations`;
    const created = await api.post(base, token, xledgerConfig({ base_url: 'https://169.254.169.254/graphql', enabled: false }));
    expect(created.status).toBe(201);
    const path = `${base}/${created.body.id}`;
    const metadata = await api.post(`${path}/connection-test`, token, {});
    expectProblem(metadata, 422, 'egress_destination_not_allowed');
    expect(rulesOf(metadata)).toEqual(['base_url:egress_destination_not_allowed']);
    // A name that resolves to loopback is judged on the address connected to.
    const current = await api.get(path, token);
    expect((await api.patch(path, token, { base_url: 'https://localhost:9/graphql', api_key: API_KEY }, { 'If-Match': current.headers.etag })).status).toBe(200);
    expect(rulesOf(await api.post(`${path}/connection-test`, token, {}))).toEqual(['base_url:egress_destination_not_allowed']);
    // Roles: a global admin may not (403); another organization's config is a 404.
    expectProblem(await api.post(`${path}/connection-test`, await t.token('global_admin'), {}), 403, 'forbidden');
    const stranger = newOrgId();
    expectProblem(await api.post(`/v1/organizations/${stranger}/integrations/${created.body.id}/connection-test`, await t.token('org_admin', stranger), {}), 404, 'not_found');
  });
});
