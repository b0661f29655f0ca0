import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { issueToken } from '../src/auth/issue-token';
import { killAllChildren, spawnTs, waitForExit, waitForOutput } from './support/child-processes';
import { TEST_ENCRYPTION_KEYS, TEST_JWT_SECRET } from './support/test-app';
import { waitFor } from './support/wait';

jest.setTimeout(180_000);

const CONFIGS = 20;
const ROWS_PER_CONFIG = 50;
const MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
];

/**
 * Exactly once under faults, with real processes on one database: two service instances with two
 * delivery workers each deliver 1,000 rows of 20 configs to a sink in the database
 * (test/support/delivery-instance.ts); one instance is killed with SIGKILL in the middle of a
 * batch, and two answers are lost after the sink applied them.
 */
describe('delivery across service instances, under faults (real processes, real database)', () => {
  const prefix = `sink_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  let db: Client;

  beforeAll(async () => {
    db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
    await db.query(`
      CREATE TABLE ${prefix}_records (reference text PRIMARY KEY, output jsonb NOT NULL);
      CREATE TABLE ${prefix}_receipts (reference text NOT NULL, instance text NOT NULL);
      CREATE TABLE ${prefix}_batches (id bigserial PRIMARY KEY, config_id uuid NOT NULL, instance text NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz);
      CREATE TABLE ${prefix}_faults (config_id uuid NOT NULL, kind text NOT NULL, remaining int NOT NULL);
      CREATE TABLE ${prefix}_faulted (reference text NOT NULL, kind text NOT NULL);`);
  });
  afterAll(async () => {
    killAllChildren();
    await db.query(`DROP TABLE IF EXISTS ${prefix}_records, ${prefix}_receipts, ${prefix}_batches, ${prefix}_faults, ${prefix}_faulted`);
    await db.end();
  });

  async function startInstance(name: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
    const child = spawnTs('test/support/delivery-instance.ts', [], {
      NODE_ENV: 'test',
      DATABASE_URL: process.env.TEST_DATABASE_URL,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      LOG_LEVEL: 'silent',
      DATABASE_POOL_SIZE: '5',
      MAPPING_WORKERS: '0',
      RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
      RATE_LIMIT_READS_PER_MINUTE: '1000000',
      DELIVERY_WORKERS: '2',
      DELIVERY_BACKOFF_BASE_MS: '200',
      DELIVERY_JOB_TIMEOUT_SECONDS: '3',
      // Off as in testConfig: specs call the sweep when they mean it.
      DELIVERY_SWEEP_MINUTES: '0',
      SINK_INSTANCE: name,
      SINK_TABLE_PREFIX: prefix,
      SINK_BATCH_DELAY_MS: '20',
      ...env,
    });
    const [, port] = await waitForOutput(child, /listening (\d+)\n/, 90_000);
    return { child, url: `http://127.0.0.1:${port}` };
  }

  async function call(url: string, token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it('delivers every row once: a killed instance (kill -9 mid-batch) and lost answers are retried, never duplicated; one attempt per config at a time', async () => {
    // Instance a hangs in its sixth batch (applied, never answered); b is healthy.
    const [a, b] = await Promise.all([startInstance('a', { SINK_HANG_AFTER_BATCHES: '5' }), startInstance('b')]);
    const configs: { org: string; token: string; id: string }[] = [];
    for (let i = 0; i < CONFIGS; i += 1) {
      const org = randomUUID();
      const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org });
      const created = await call(b.url, token, 'POST', `/v1/organizations/${org}/integrations`, {
        integration_type: 'xledger',
        display_name: `X${i}`,
        base_url: 'https://x.example',
        api_key: `xl-key-${randomUUID()}`,
        enabled: true,
        sync_frequency: 'realtime',
      });
      expect(created.status).toBe(201);
      expect((await call(b.url, token, 'POST', `/v1/organizations/${org}/integrations/${created.body.id}/field-mappings/bulk`, { items: MAPPINGS })).status).toBe(201);
      configs.push({ org, token, id: created.body.id });
    }
    // Two configs lose the answer to one batch each (the sink applied it; the reply is dropped).
    for (const config of [configs[3], configs[11]]) await db.query(`INSERT INTO ${prefix}_faults VALUES ($1, 'lose_answer', 1)`, [config.id]);

    const hung = waitForOutput(a.child, /hanging ([0-9a-f-]+)\n/, 120_000);
    const runs = await Promise.all(
      configs.map(async ({ org, token, id }, i) => {
        const records = Array.from({ length: ROWS_PER_CONFIG }, (_, n) => ({
          claim_id: `c${i}-${n}`,
          expense_type: 'travel_km',
          expense_amount: n + 1,
          expense_date: '2026-11-20',
        }));
        // Half the exports through each instance: both queue, both deliver.
        const res = await call(i % 2 ? a.url : b.url, token, 'POST', `/v1/organizations/${org}/integrations/${id}/exports`, { records, deliver: true });
        expect({ status: res.status, run: res.body.status }).toEqual({ status: 202, run: 'queued' });
        return { configId: id, runId: res.body.id as string };
      }),
    );
    const [, hungConfig] = await hung;
    // Once a has stored the outcome of every answer it gave (its later batches wait before applying anything),
    // kill it mid-attempt: a row still pending then would be resent without a fault to account for it.
    const unsettled = await waitFor(
      async () =>
        (
          await db.query(
            `SELECT count(*)::int AS n FROM ${prefix}_receipts r
             JOIN export_run_rows x ON x.export_run_id = split_part(r.reference, ':', 2)::uuid AND x.index = split_part(r.reference, ':', 3)::int
             WHERE r.instance = 'a' AND x.status = 'pending' AND r.reference NOT IN (SELECT reference FROM ${prefix}_faulted)`,
          )
        ).rows[0].n as number,
      (n) => n === 0,
      30_000,
    );
    expect(unsettled).toBe(0);
    a.child.kill('SIGKILL');
    await waitForExit(a.child);

    // b finishes everything, the killed instance's attempt included, once its job expires.
    const runIds = runs.map((r) => r.runId);
    const deadline = Date.now() + 90_000;
    let statuses: { status: string; delivered_count: number }[] = [];
    while (Date.now() < deadline) {
      statuses = (await db.query(`SELECT status, delivered_count FROM export_runs WHERE id = ANY($1)`, [runIds])).rows;
      if (statuses.every((s) => s.status === 'delivered')) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(statuses).toHaveLength(CONFIGS);
    expect(statuses).toEqual(runIds.map(() => ({ status: 'delivered', delivered_count: ROWS_PER_CONFIG })));

    // Every row reached the sink: one record per reference, the 1,000 expected ones.
    const expected = runs.flatMap(({ runId }) => Array.from({ length: ROWS_PER_CONFIG }, (_, n) => `meander:${runId}:${n}`)).sort();
    const records = (await db.query(`SELECT reference FROM ${prefix}_records ORDER BY reference`)).rows.map((r) => r.reference);
    expect(records).toEqual(expected);
    // Sent twice only where an answer was lost (the hung batch, the two dropped replies), and then exactly twice.
    const repeated = (await db.query(`SELECT reference, count(*)::int AS n FROM ${prefix}_receipts GROUP BY reference HAVING count(*) > 1 ORDER BY reference`)).rows;
    const faulted = (await db.query(`SELECT reference, kind FROM ${prefix}_faulted ORDER BY reference`)).rows;
    expect(faulted.filter((f) => f.kind === 'hang')).toHaveLength(10);
    expect(faulted.filter((f) => f.kind === 'lose_answer')).toHaveLength(20);
    expect(repeated).toEqual(faulted.map((f) => ({ reference: f.reference, n: 2 })));
    // Both instances delivered.
    expect((await db.query(`SELECT DISTINCT instance FROM ${prefix}_receipts ORDER BY instance`)).rows.map((r) => r.instance)).toEqual(['a', 'b']);

    // One attempt per config at a time: no two answered batches of a config overlap.
    const overlaps = await db.query(
      `SELECT x.id FROM ${prefix}_batches x JOIN ${prefix}_batches y ON x.config_id = y.config_id AND x.id < y.id
       WHERE x.finished_at IS NOT NULL AND y.finished_at IS NOT NULL AND x.started_at < y.finished_at AND y.started_at < x.finished_at`,
    );
    expect(overlaps.rows).toEqual([]);

    // Every attempt is a sync run: the killed one worker_lost, the lost answers failed, then success.
    const syncRuns = async (configId: string) =>
      (await db.query(`SELECT status, error FROM sync_runs WHERE integration_id = $1 ORDER BY seq`, [configId])).rows.map((r) => [r.status, r.error]);
    const hungRuns = await syncRuns(hungConfig);
    expect(hungRuns[hungRuns.length - 1]).toEqual(['success', null]);
    // The killed attempt is recorded with what it delivered before its batch hung (stored outcomes of a's earlier batches).
    const hungRun = runs.find((r) => r.configId === hungConfig)!.runId;
    const [{ n: sentByA }] = (await db.query(`SELECT count(*)::int AS n FROM ${prefix}_receipts WHERE instance = 'a' AND reference LIKE $1`, [`meander:${hungRun}:%`])).rows;
    const lost = (await db.query(`SELECT status, records_pushed FROM sync_runs WHERE integration_id = $1 AND error = 'worker_lost'`, [hungConfig])).rows;
    expect(lost).toHaveLength(1);
    expect(lost[0].status).toBe(lost[0].records_pushed > 0 ? 'partial' : 'failed');
    // At most what a received before the hang (a lost answer of that config may have been resent).
    expect(lost[0].records_pushed).toBeLessThanOrEqual(sentByA - 10);
    for (const config of [configs[3], configs[11]]) {
      const attempts = await syncRuns(config.id);
      expect(attempts).toContainEqual(['failed', 'socket hang up']);
      expect(attempts[attempts.length - 1]).toEqual(['success', null]);
    }
    b.child.kill('SIGTERM');
    await waitForExit(b.child);
  });
});
