import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import createClient from 'openapi-fetch';
import type { Response } from 'supertest';
import type { paths } from '../client/meander-api';
import { ROLES, type Role } from '../src/auth/principal';
import { readJobQueues, readJobQueuesWithin } from '../src/metrics/job-queues';
import { ALERT_QUEUE, DELIVERY_QUEUE, JOB_QUEUE_SCHEMA, JobQueue } from '../src/job-queue/job-queue';
import type { Connector, ConnectorContext, DeliveryRow, RowOutcome } from '../src/sync/connector';
import { type ApiClient, apiClient, expectProblem, expenseClaim, XLEDGER_EXPORT_MAPPINGS, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';

jest.setTimeout(60_000);

const METRICS_TOKEN = 'metrics-scrape-token-0123456789-abcdefghijklmnop';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** A test sink standing in for Xledger: refuses the rows it is told to, and can hold a batch until released. */
class SinkConnector implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = 10;
  refuse = new Set<number>();
  hold: Promise<void> | undefined;
  /** Resolved when a held batch has arrived. */
  arrived: (() => void) | undefined;

  async deliver(_context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    this.arrived?.();
    await this.hold;
    return rows.map((row) =>
      this.refuse.has(row.index) ? { index: row.index, status: 'failed', error: 'account closed' } : { index: row.index, status: 'delivered', externalId: null },
    );
  }
}

/** The value of one sample of the exposition, 0 when absent: `name{label="value",…}` with the labels in any order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value) && Object.keys(found).length === Object.keys(labels).length) return Number(match[3]);
  }
  return 0;
}

/** One scrape of `t`'s metrics, with the metrics token. */
async function scrapeOf(t: TestApp): Promise<string> {
  const res = await t.http.get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`);
  expect(res.status).toBe(200);
  return res.text;
}

describe('GET /metrics while METRICS_TOKEN is unset', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('is off: 404 problem+json, whoever asks', async () => {
    expectProblem(await t.http.get('/metrics'), 404, 'not_found');
    expectProblem(await t.http.get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`), 404, 'not_found');
    expectProblem(await t.http.get('/metrics').set('Authorization', `Bearer ${await t.token('global_admin')}`), 404, 'not_found');
  });
});

describe('GET /metrics (HTTP, real database, the job queue)', () => {
  let t: TestApp;
  let api: ApiClient;
  const sink = new SinkConnector();
  /** Every id the traffic of this suite used: none may appear in a scrape. */
  const ids = new Set<string>();

  beforeAll(async () => {
    t = await startTestApp({ env: { METRICS_TOKEN, DELIVERY_WORKERS: '1' }, connectors: [sink] });
    api = apiClient(t);
  }, 60_000);
  afterAll(() => t.close());

  const scrape = () => scrapeOf(t);

  /** An org_admin's organization with an enabled Xledger config mapped for export. */
  async function setup(syncFrequency = 'realtime') {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const created = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ sync_frequency: syncFrequency }));
    expect(created.status).toBe(201);
    const configPath = `/v1/organizations/${org}/integrations/${created.body.id}`;
    expect((await api.post(`${configPath}/field-mappings/bulk`, token, { items: XLEDGER_EXPORT_MAPPINGS })).status).toBe(201);
    ids.add(org).add(created.body.id);
    return { org, token, configId: created.body.id as string, configPath };
  }

  function expectRefused(res: Response): void {
    expectProblem(res, 401, 'unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect(res.text).not.toContain('meander_');
  }

  it('refuses a scrape without the metrics token: 401 problem+json with WWW-Authenticate: Bearer', async () => {
    expectRefused(await t.http.get('/metrics'));
    expectRefused(await t.http.get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN.slice(0, -1)}x`));
    expectRefused(await t.http.get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}x`));
    expectRefused(await t.http.get('/metrics').set('Authorization', `Basic ${Buffer.from(`prometheus:${METRICS_TOKEN}`).toString('base64')}`));
    expectRefused(await t.http.get(`/metrics?token=${METRICS_TOKEN}`));
    // The JWT secret is not the metrics token either.
    expectRefused(await t.http.get('/metrics').set('Authorization', `Bearer ${TEST_JWT_SECRET}`));
  });

  it.each(ROLES)('refuses a valid user token of the role %s (user tokens never read metrics)', async (role: Role) => {
    const token = await t.token(role, newOrgId());
    // The token is valid for the API itself.
    expect((await api.get('/v1/integration-types', token)).status).toBe(200);
    expectRefused(await t.http.get('/metrics').set('Authorization', `Bearer ${token}`));
  });

  it('answers the Prometheus text format with every metric family of the service', async () => {
    const res = await t.http.get('/metrics').set('Authorization', `bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const [family, type] of [
      ['meander_http_requests_total', 'counter'],
      ['meander_http_request_duration_seconds', 'histogram'],
      ['meander_delivery_attempts_total', 'counter'],
      ['meander_rows_delivered_total', 'counter'],
      ['meander_rows_refused_total', 'counter'],
      ['meander_delivery_queue_depth', 'gauge'],
      ['meander_delivery_queue_scheduled', 'gauge'],
      ['meander_delivery_queue_oldest_age_seconds', 'gauge'],
      ['meander_alert_queue_depth', 'gauge'],
      ['meander_alert_queue_scheduled', 'gauge'],
      ['meander_alert_queue_oldest_age_seconds', 'gauge'],
      ['meander_token_cache_hits_total', 'counter'],
      ['meander_token_cache_misses_total', 'counter'],
      ['meander_token_cache_entries', 'gauge'],
      ['meander_process_cpu_seconds_total', 'counter'],
      ['meander_nodejs_eventloop_lag_seconds', 'gauge'],
    ]) {
      expect({ family, declared: res.text.includes(`# TYPE ${family} ${type}\n`) }).toEqual({ family, declared: true });
    }
    expect(res.text).toMatch(/^meander_token_cache_hits_total\{cache="dynamics"\} \d+$/m);
    expect(res.text).toMatch(/^meander_token_cache_entries\{cache="auth"\} \d+$/m);
  });

  it('counts the bearer tokens admitted from a remembered verdict (hits) and verified with the key (misses)', async () => {
    const scrape = async () => (await t.http.get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).text;
    const before = await scrape();
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    for (let i = 0; i < 3; i++) expect((await t.http.get(`/v1/organizations/${org}/integrations`).set('Authorization', `Bearer ${token}`)).status).toBe(200);
    const after = await scrape();
    const delta = (name: string) => sample(after, name, { cache: 'auth' }) - sample(before, name, { cache: 'auth' });
    expect({ misses: delta('meander_token_cache_misses_total'), hits: delta('meander_token_cache_hits_total') }).toEqual({ misses: 1, hits: 2 });
  });

  it('counts requests by route template and status, never by URL: two reads of a config add 2; other organizations and unmatched paths too', async () => {
    const a = await setup();
    const b = await setup();
    const route = '/v1/organizations/:org_id/integrations/:id';
    const before = await scrape();
    expect((await api.get(a.configPath, a.token)).status).toBe(200);
    expect((await api.get(b.configPath, b.token)).status).toBe(200);
    // Another organization's config: refused, and counted under the same template.
    expectProblem(await api.get(b.configPath, a.token), 403, 'org_scoped_access_only');
    const stranger = randomUUID();
    ids.add(stranger);
    expect((await t.http.get(`/no-such-route/${stranger}`)).status).toBe(404);
    // What the router itself refuses (a path that is not valid percent-encoding, an over-long id) is answered and counted too.
    expect((await t.http.get(`/v1/organizations/%E0%A4%A/integrations`)).status).toBe(400);
    expect((await t.http.get(`/v1/organizations/${'a'.repeat(101)}/integrations`)).status).toBe(404);
    const after = await scrape();
    const count = (text: string, labels: Record<string, string>) => sample(text, 'meander_http_requests_total', labels);
    expect(count(after, { method: 'GET', route, status: '200' }) - count(before, { method: 'GET', route, status: '200' })).toBe(2);
    expect(count(after, { method: 'GET', route, status: '403' }) - count(before, { method: 'GET', route, status: '403' })).toBe(1);
    expect(count(after, { method: 'GET', route: 'unmatched', status: '404' }) - count(before, { method: 'GET', route: 'unmatched', status: '404' })).toBe(2);
    expect(count(after, { method: 'GET', route: 'unmatched', status: '400' }) - count(before, { method: 'GET', route: 'unmatched', status: '400' })).toBe(1);
    // The previous scrape was counted by the time this one answered.
    expect(count(after, { method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'meander_http_request_duration_seconds_count', { method: 'GET', route })).toBeGreaterThanOrEqual(3);
  });

  it('counts delivery attempts by integration type and outcome, and the rows delivered and refused', async () => {
    const { token, configPath } = await setup();
    const before = await scrape();
    const created = await api.post(`${configPath}/exports`, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    expect(created.status).toBe(202);
    ids.add(created.body.id);
    const run = await waitFor(
      async () => (await api.get(`${configPath}/exports/${created.body.id}`, token)).body,
      (r) => r.status === 'delivered',
    );
    expect(run.status).toBe('delivered');
    sink.refuse = new Set([1]);
    const partial = await api.post(`${configPath}/exports`, token, { records: [expenseClaim(), expenseClaim()], deliver: true });
    ids.add(partial.body.id);
    await waitFor(
      async () => (await api.get(`${configPath}/exports/${partial.body.id}`, token)).body,
      (r) => r.status === 'partially_delivered',
    );
    sink.refuse = new Set();
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect({
      success: delta('meander_delivery_attempts_total', { integration_type: 'xledger', outcome: 'success' }),
      partial: delta('meander_delivery_attempts_total', { integration_type: 'xledger', outcome: 'partial' }),
      delivered: delta('meander_rows_delivered_total', { integration_type: 'xledger' }),
      refused: delta('meander_rows_refused_total', { integration_type: 'xledger' }),
    }).toEqual({ success: 1, partial: 1, delivered: 4, refused: 1 });
  });

  it('reports the queue: a job waiting for the busy worker is due, with its age; a scheduled slot is not', async () => {
    const busy = await setup();
    const waiting = await setup('manual');
    const scheduled = await setup('daily');
    let release!: () => void;
    sink.hold = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (sink.arrived = resolve));
    try {
      // The one worker takes this delivery and is held in the sink.
      ids.add((await api.post(`${busy.configPath}/exports`, busy.token, { records: [expenseClaim()], deliver: true })).body.id);
      await arrived;
      const before = await scrape();
      // A manual config's run, sent now: due, and no worker free to take it.
      ids.add((await api.post(`${waiting.configPath}/exports`, waiting.token, { records: [expenseClaim()], deliver: true })).body.id);
      expect((await api.post(`${waiting.configPath}/sync`, waiting.token, {})).body).toEqual({ queued_runs: 1 });
      // A daily config's run: its job waits for the next slot.
      ids.add((await api.post(`${scheduled.configPath}/exports`, scheduled.token, { records: [expenseClaim()], deliver: true })).body.id);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const during = await scrape();
      const queues = await readJobQueues(t.dataSource);
      expect(sample(during, 'meander_delivery_queue_depth')).toBe(queues.delivery.due);
      expect(sample(during, 'meander_delivery_queue_depth') - sample(before, 'meander_delivery_queue_depth')).toBe(1);
      expect(sample(during, 'meander_delivery_queue_scheduled') - sample(before, 'meander_delivery_queue_scheduled')).toBe(1);
      expect(sample(during, 'meander_delivery_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(1);
      const [job] = await t.dataSource.query(`SELECT count(*)::int AS n FROM ${JOB_QUEUE_SCHEMA}.job WHERE name = $1 AND singleton_key = $2 AND state = 'created'`, [
        DELIVERY_QUEUE,
        waiting.configId,
      ]);
      expect(job.n).toBe(1);
    } finally {
      sink.arrived = undefined;
      sink.hold = undefined;
      release();
    }
    // Once the worker is free the waiting job is taken.
    const drained = await waitFor(scrape, (text) => sample(text, 'meander_delivery_queue_depth') < 1);
    expect(sample(drained, 'meander_delivery_queue_depth')).toBe(0);
  });

  it('is in the OpenAPI document the Swagger UI serves, behind its own security scheme, and in the typed client', async () => {
    const document = (await t.http.get('/docs-json')).body;
    const operation = document.paths['/metrics'].get;
    expect(operation.security).toEqual([{ metrics_token: [] }]);
    expect(document.components.securitySchemes.metrics_token).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(operation.responses['200'].content)).toEqual(['text/plain; version=0.0.4; charset=utf-8']);
    expect(operation.responses).toHaveProperty('401');
    expect(operation.responses).toHaveProperty('404');
    const baseUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const scraped = await createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${METRICS_TOKEN}` } }).GET('/metrics', { parseAs: 'text' });
    expect(scraped.response.status).toBe(200);
    expect(scraped.data).toContain('# TYPE meander_http_requests_total counter');
    const refused = await createClient<paths>({ baseUrl }).GET('/metrics', { parseAs: 'text' });
    expect(refused.response.status).toBe(401);
  });

  it('reads an absent queue schema as empty queues (pg-boss creates it on first use)', async () => {
    const empty = { due: 0, scheduled: 0, oldestDueSeconds: 0 };
    expect(await readJobQueues(t.dataSource, 'pgboss_not_created_yet')).toEqual({ delivery: empty, alerts: empty });
  });

  it('stops waiting for a queue the database cannot read in time, and so does the database', async () => {
    // Another session holds the job table (a long migration, a VACUUM FULL): the read cannot start.
    const blocker = t.dataSource.createQueryRunner();
    await blocker.startTransaction();
    try {
      await blocker.query(`LOCK TABLE "${JOB_QUEUE_SCHEMA}".job IN ACCESS EXCLUSIVE MODE`);
      const failures: unknown[] = [];
      expect(await readJobQueuesWithin(t.dataSource, 300, (error) => failures.push(error))).toBeNull();
      // The server gave up on the statement too: no backend is left waiting for the lock.
      const waiting = async () =>
        (await t.dataSource.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%oldest_due_seconds%'`))[0].n as number;
      expect(await waitFor(waiting, (n) => n === 0, 5_000)).toBe(0);
      expect(failures).toEqual([]);
    } finally {
      await blocker.rollbackTransaction();
      await blocker.release();
    }
  });

  it('labels carry no organization, config, run or user id, and no secret', async () => {
    // Its own traffic (the suite's before it counts too): two organizations, each reading its own
    // config and the other's, a delivery, a path that matched no route, a principal of each role.
    const a = await setup();
    const b = await setup();
    for (const [own, other] of [
      [a, b],
      [b, a],
    ]) {
      expect((await api.get(own.configPath, own.token)).status).toBe(200);
      expect((await api.get(`${other.configPath}/field-mappings`, own.token)).status).toBe(403);
    }
    const run = await api.post(`${a.configPath}/exports`, a.token, { records: [expenseClaim()], deliver: true });
    ids.add(run.body.id);
    await waitFor(
      async () => (await api.get(`${a.configPath}/exports/${run.body.id}`, a.token)).body,
      (r) => r.status === 'delivered',
    );
    for (const role of ROLES) {
      const sub = randomUUID();
      ids.add(sub);
      expect((await api.get(`/v1/organizations/${a.org}/integrations`, await t.token(role, a.org, { sub }))).status).toBe(200);
    }
    expect((await t.http.get(`/v1/organizations/${b.org}/nothing-here`)).status).toBe(404);
    expect(ids.size).toBeGreaterThanOrEqual(8);
    const text = await scrape();
    // Everything the traffic moved is in it, only never by id.
    expect(sample(text, 'meander_delivery_attempts_total', { integration_type: 'xledger', outcome: 'success' })).toBeGreaterThanOrEqual(1);
    for (const id of ids) expect({ id, present: text.toLowerCase().includes(id.toLowerCase()) }).toEqual({ id, present: false });
    expect(text).not.toMatch(UUID);
    for (const secret of [METRICS_TOKEN, TEST_JWT_SECRET, 'xl-key-0123456789abcdef']) expect(text).not.toContain(secret);
  });
});

describe('GET /metrics: the alert queue (an API-only instance: alerts queue, nothing sends them)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { METRICS_TOKEN, DELIVERY_WORKERS: '0' } });
  }, 60_000);
  afterAll(() => t.close());

  const scrape = () => scrapeOf(t);

  it("reports alerts waiting for a sender, with the oldest one's age, and those waiting out a retry apart", async () => {
    const endpointIds = [randomUUID(), randomUUID()];
    const jobs = t.app.get(JobQueue);
    await jobs.enqueueAlert({ orgId: newOrgId(), endpointId: endpointIds[0], event: { type: 'delivery.failed' } });
    const before = await scrape();
    await jobs.enqueueAlert({ orgId: newOrgId(), endpointId: endpointIds[1], event: { type: 'delivery.failed' } });
    await jobs.enqueueAlert({ orgId: newOrgId(), endpointId: endpointIds[1], event: { type: 'integration.paused' } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const due = await scrape();
    expect(sample(due, 'meander_alert_queue_depth') - sample(before, 'meander_alert_queue_depth')).toBe(2);
    expect(sample(due, 'meander_alert_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(1);
    // The delivery queue's gauges count no alert.
    expect(sample(due, 'meander_delivery_queue_depth')).toBe(sample(before, 'meander_delivery_queue_depth'));
    // One alert's endpoint did not take it: pg-boss moves its start past the backoff.
    await t.dataSource.query(`UPDATE ${JOB_QUEUE_SCHEMA}.job SET state = 'retry', start_after = now() + interval '1 hour' WHERE name = $1 AND data->>'endpointId' = $2`, [
      ALERT_QUEUE,
      endpointIds[0],
    ]);
    const retrying = await scrape();
    expect(sample(retrying, 'meander_alert_queue_depth') - sample(before, 'meander_alert_queue_depth')).toBe(1);
    expect(sample(retrying, 'meander_alert_queue_scheduled') - sample(before, 'meander_alert_queue_scheduled')).toBe(1);
    const queues = await readJobQueues(t.dataSource);
    expect([queues.alerts.due, queues.alerts.scheduled]).toEqual([sample(retrying, 'meander_alert_queue_depth'), sample(retrying, 'meander_alert_queue_scheduled')]);
  });
});
