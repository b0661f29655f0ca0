import { randomBytes } from 'node:crypto';
import PgBoss from 'pg-boss';
import { Webhook } from 'standardwebhooks';
import { JOB_QUEUE_SCHEMA, RETENTION_CRON, RETENTION_JOB_EXPIRY_SECONDS, RETENTION_QUEUE } from '../src/job-queue/job-queue';
import { RetentionRepository } from '../src/retention/retention.repository';
import { RETENTION_RUN_BUDGET_MS, RetentionService } from '../src/retention/retention.service';
import { apiClient, type ApiClient, expenseClaim, XLEDGER_EXPORT_MAPPINGS, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(60_000);

/** Tables and the column their age is read from. */
const AGE_COLUMN = { webhook_events: 'received_at', sync_runs: 'created_at', export_runs: 'created_at', audit_events: 'occurred_at' } as const;
type AgedTable = keyof typeof AGE_COLUMN;

/**
 * The retention job against the real database: rows are made through the API, then back-dated
 * with SQL, and the job's run (the one its queue job calls) prunes them.
 */
describe('retention of stored events, sync runs and export runs (real database, the job queue)', () => {
  // API-only (no worker, no job queue started): the spec calls the job's run itself, with small batches.
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp({ captureLogs: true, env: { RETENTION_BATCH_SIZE: '2' } });
    api = apiClient(t);
  }, 60_000);
  afterAll(() => t.close());

  /** An enabled Xledger config set up for inbound webhooks, with complete mappings; manual sync, so queued runs wait. */
  async function setup(app: TestApp = t) {
    const client = app === t ? api : apiClient(app);
    const org = newOrgId();
    const token = await app.token('org_admin', org);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const res = await client.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ sync_frequency: 'manual', webhook_secret: secret }));
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const path = `/v1/organizations/${org}/integrations/${id}`;
    const mappings = await client.post(`${path}/field-mappings/bulk`, token, { items: XLEDGER_EXPORT_MAPPINGS });
    expect(mappings.status).toBe(201);
    const syncService = await app.token('sync_service');
    return {
      org,
      id,
      path,
      mappingIds: (mappings.body.items as { id: string; source_field: string }[]).map((m) => m.id),
      mappingOf: (source: string) => (mappings.body.items as { id: string; source_field: string }[]).find((m) => m.source_field === source)!.id,
      webhook: async () => {
        const webhookId = `msg_${randomBytes(8).toString('hex')}`;
        const payload = JSON.stringify({ n: webhookId });
        // One instant for the header and the signature: read twice, a second could pass between.
        const at = new Date(Math.floor(Date.now() / 1000) * 1000);
        const res = await app.http
          .post(`/v1/webhooks/${id}`)
          .set('webhook-id', webhookId)
          .set('webhook-timestamp', String(at.getTime() / 1000))
          .set('webhook-signature', new Webhook(secret).sign(webhookId, at, payload))
          .set('Content-Type', 'application/json')
          .send(payload);
        expect(res.status).toBe(202);
        return res.body.id as string;
      },
      syncRun: async () => {
        const res = await client.post(`${path}/sync-runs`, syncService, { status: 'success', started_at: new Date().toISOString(), records_pushed: 1 });
        expect(res.status).toBe(201);
        return res.body.id as string;
      },
      exportRun: async (deliver = false) => {
        const res = await client.post(`${path}/exports`, token, { records: [expenseClaim(), expenseClaim()], deliver });
        expect(res.status).toBe(deliver ? 202 : 201);
        return res.body.id as string;
      },
      newVersion: async (mappingId: string) => {
        const res = await client.post(`${path}/field-mappings/${mappingId}/versions`, token, { default_value: 'CC1' });
        expect(res.status).toBe(201);
        return res.body.id as string;
      },
    };
  }

  const backdate = (table: AgedTable, ids: string[], days = 100) =>
    t.dataSource.query(`UPDATE ${table} SET ${AGE_COLUMN[table]} = now() - make_interval(days => $2) WHERE id = ANY($1::uuid[])`, [ids, days]);
  const present = async (table: AgedTable, ids: string[]) =>
    ((await t.dataSource.query(`SELECT id FROM ${table} WHERE id = ANY($1::uuid[])`, [ids])) as { id: string }[]).map((r) => r.id).sort();
  const rowCount = async (runId: string) => (await t.dataSource.query(`SELECT count(*)::int AS n FROM export_run_rows WHERE export_run_id = $1`, [runId]))[0].n as number;
  const setRun = (runId: string, status: string, rowStatus: string) =>
    t.dataSource.query(`WITH run AS (UPDATE export_runs SET status = $2 WHERE id = $1) UPDATE export_run_rows SET status = $3 WHERE export_run_id = $1 AND status = 'pending'`, [
      runId,
      status,
      rowStatus,
    ]);
  const retention = (app: TestApp = t) => app.app.get(RetentionService).run();

  it('prunes webhook events and sync runs older than 90 days; younger ones and other organizations are untouched', async () => {
    const a = await setup();
    const b = await setup();
    const oldEvents = [await a.webhook(), await a.webhook(), await a.webhook()];
    const youngEvent = await a.webhook();
    const oldRuns = [await a.syncRun(), await a.syncRun()];
    const youngRun = await a.syncRun();
    const otherEvents = [await b.webhook(), await b.webhook()];
    const otherRuns = [await b.syncRun()];
    await backdate('webhook_events', oldEvents);
    await backdate('sync_runs', oldRuns);
    // Just inside the age: kept.
    await backdate('webhook_events', [youngEvent], 89);

    const deleted = await retention();

    expect(await present('webhook_events', [...oldEvents, youngEvent, ...otherEvents])).toEqual([youngEvent, ...otherEvents].sort());
    expect(await present('sync_runs', [...oldRuns, youngRun, ...otherRuns])).toEqual([youngRun, ...otherRuns].sort());
    expect(deleted.webhook_events).toBeGreaterThanOrEqual(3);
    expect(deleted.sync_runs).toBeGreaterThanOrEqual(2);
    // The young rows are still listed through the API.
    const token = await t.token('org_admin', a.org);
    expect((await api.get(`${a.path}/webhook-events`, token)).body.items.map((e: { id: string }) => e.id)).toEqual([youngEvent]);
    expect((await api.get(`${a.path}/sync-runs`, token)).body.items.map((r: { id: string }) => r.id)).toEqual([youngRun]);
  });

  it('deletes in batches of RETENTION_BATCH_SIZE until one comes back short', async () => {
    const a = await setup();
    const events = [];
    for (let i = 0; i < 5; i += 1) events.push(await a.webhook());
    await backdate('webhook_events', events);
    const spy = jest.spyOn(t.app.get(RetentionRepository), 'deleteWebhookEvents');
    try {
      await retention();
      const batches = await Promise.all(spy.mock.results.map((r) => r.value as Promise<number>));
      // Five old rows, two a statement: at least three statements, none over two, the last short.
      expect(batches.length).toBeGreaterThanOrEqual(3);
      expect(batches.every((n) => n <= 2)).toBe(true);
      expect(batches[batches.length - 1]).toBeLessThan(2);
      expect(spy.mock.calls.every(([, limit]) => limit === 2)).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(await present('webhook_events', events)).toEqual([]);
  });

  it('stops deleting once its time (RETENTION_RUN_BUDGET_MS, inside the job expiry) is up; the next run carries on', async () => {
    expect(RETENTION_RUN_BUDGET_MS).toBeLessThan(RETENTION_JOB_EXPIRY_SECONDS * 1000);
    const a = await setup();
    const events = [];
    for (let i = 0; i < 5; i += 1) events.push(await a.webhook());
    await backdate('webhook_events', events);
    const realNow = Date.now.bind(Date);
    let skew = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
    const repository = t.app.get(RetentionRepository);
    const deleteWebhookEvents = repository.deleteWebhookEvents.bind(repository);
    // The first batch takes the whole budget.
    const spy = jest.spyOn(repository, 'deleteWebhookEvents').mockImplementation(async (before, limit) => {
      const deleted = await deleteWebhookEvents(before, limit);
      skew = RETENTION_RUN_BUDGET_MS + 1;
      return deleted;
    });
    let first: Awaited<ReturnType<typeof retention>>;
    try {
      first = await retention();
    } finally {
      spy.mockRestore();
      clock.mockRestore();
    }
    expect(first).toEqual({ webhook_events: 2 });
    expect(await present('webhook_events', events)).toHaveLength(3);
    expect(t.logs.filter((line) => line.includes('"retention_completed"')).pop()).toContain('"stopped_early":true');
    await retention();
    expect(await present('webhook_events', events)).toEqual([]);
  });

  it('starts no second run in an instance while one is under way (a retry or the next hour taken meanwhile)', async () => {
    const service = t.app.get(RetentionService);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const repository = t.app.get(RetentionRepository);
    const deleteWebhookEvents = repository.deleteWebhookEvents.bind(repository);
    const spy = jest.spyOn(repository, 'deleteWebhookEvents').mockImplementation(async (before, limit) => {
      await held;
      return deleteWebhookEvents(before, limit);
    });
    try {
      const running = service.runOnce();
      expect(await service.runOnce()).toBeNull();
      expect(t.logs.some((line) => line.includes('"retention_skipped"'))).toBe(true);
      release();
      expect(await running).toMatchObject({ webhook_events: expect.any(Number) });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      release();
      spy.mockRestore();
    }
  });

  it('deletes a run as soon as a batch of rows emptied it, before the next batch of rows (no run walked again and again)', async () => {
    const a = await setup();
    await a.exportRun(true); // the first of its mapping versions: kept
    const runs = [await a.exportRun(true), await a.exportRun(true), await a.exportRun(true)];
    for (const run of runs) await setRun(run, 'delivered', 'delivered');
    await backdate('export_runs', runs);
    const repository = t.app.get(RetentionRepository);
    const calls: [string, number][] = [];
    const rows = repository.deleteExportRunRows.bind(repository);
    const emptied = repository.deleteExportRuns.bind(repository);
    const spies = [
      jest.spyOn(repository, 'deleteExportRunRows').mockImplementation(async (...args) => {
        const n = await rows(...args);
        calls.push(['rows', n]);
        return n;
      }),
      jest.spyOn(repository, 'deleteExportRuns').mockImplementation(async (...args) => {
        const ids = await emptied(...args);
        calls.push(['runs', ids.length]);
        return ids;
      }),
    ];
    try {
      expect(await retention()).toMatchObject({ export_run_rows: 6, export_runs: 3 });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // Two rows a batch (RETENTION_BATCH_SIZE): each run's two rows, then that run, in turn.
    expect(calls.slice(0, 6)).toEqual([
      ['rows', 2],
      ['runs', 1],
      ['rows', 2],
      ['runs', 1],
      ['rows', 2],
      ['runs', 1],
    ]);
    expect(await present('export_runs', runs)).toEqual([]);
  });

  it("keeps the first export run of each mapping version (used_in_export) and runs still queued or delivering; prunes the others' runs and rows", async () => {
    const a = await setup();
    const b = await setup();
    // The first run froze the four mapping versions: its record stays.
    const first = await a.exportRun();
    const later = await a.exportRun();
    const queued = await a.exportRun(true);
    const delivering = await a.exportRun(true);
    const delivered = await a.exportRun(true);
    const failed = await a.exportRun(true);
    await setRun(delivering, 'delivering', 'pending');
    await setRun(delivered, 'delivered', 'delivered');
    // Out of attempts: final, even with a row never delivered.
    await setRun(failed, 'failed', 'pending');
    // A new version of one mapping: the first run that used it stays too; the next goes.
    const version2 = await a.newVersion(a.mappingOf('cost_center'));
    const firstOfVersion2 = await a.exportRun();
    const laterOfVersion2 = await a.exportRun();
    const young = await a.exportRun(true);
    await setRun(young, 'delivered', 'delivered');
    const otherOrg = await b.exportRun();
    const aged = [first, later, queued, delivering, delivered, failed, firstOfVersion2, laterOfVersion2];
    await backdate('export_runs', aged);
    for (const run of [queued, delivering, delivered, failed, young]) expect(await rowCount(run)).toBe(2);

    await retention();

    expect(await present('export_runs', [...aged, young, otherOrg])).toEqual([first, queued, delivering, firstOfVersion2, young, otherOrg].sort());
    // Pending deliveries keep their rows; the pruned runs' rows are gone; the young run's are untouched.
    expect({
      queued: await rowCount(queued),
      delivering: await rowCount(delivering),
      delivered: await rowCount(delivered),
      failed: await rowCount(failed),
      young: await rowCount(young),
    }).toEqual({
      queued: 2,
      delivering: 2,
      delivered: 0,
      failed: 0,
      young: 2,
    });
    // The kept runs still answer through the API, whole.
    const token = await t.token('org_admin', a.org);
    const kept = await api.get(`${a.path}/exports/${first}`, token);
    expect({ status: kept.status, mappings: kept.body.mappings_used.map((m: { mapping_id: string }) => m.mapping_id).sort() }).toEqual({
      status: 200,
      mappings: [...a.mappingIds].sort(),
    });
    expect((await api.get(`${a.path}/exports/${firstOfVersion2}`, token)).body.mappings_used).toContainEqual({ mapping_id: version2, version: 2 });
    expect((await api.get(`${a.path}/exports/${later}`, token)).status).toBe(404);
    // A second run finds nothing more to prune among them.
    await retention();
    expect(await present('export_runs', [...aged, young, otherOrg])).toEqual([first, queued, delivering, firstOfVersion2, young, otherOrg].sort());
  });

  it('ages a delivered run from when its delivery ended: exported long ago, delivered yesterday, it stays', async () => {
    const a = await setup();
    // The first run of the mapping versions stays whatever its age: not one of these.
    await a.exportRun();
    const lateDelivered = await a.exportRun(true);
    const longDelivered = await a.exportRun(true);
    for (const run of [lateDelivered, longDelivered]) await setRun(run, 'delivered', 'delivered');
    await backdate('export_runs', [lateDelivered, longDelivered]);
    await t.dataSource.query(`UPDATE export_runs SET settled_at = now() - make_interval(days => $2) WHERE id = $1`, [lateDelivered, 1]);
    await t.dataSource.query(`UPDATE export_runs SET settled_at = now() - make_interval(days => $2) WHERE id = $1`, [longDelivered, 100]);

    await retention();

    expect(await present('export_runs', [lateDelivered, longDelivered])).toEqual([lateDelivered]);
    expect(await rowCount(lateDelivered)).toBe(2);
  });

  it('passes over windows of runs all kept (first runs of versions, a delivery not over, one delivered late) to the older runs that may go, in the same run', async () => {
    const a = await setup();
    const firstOfVersion1 = await a.exportRun();
    const queued = await a.exportRun(true);
    const deliveredLate = await a.exportRun(true);
    await setRun(deliveredLate, 'delivered', 'delivered');
    await a.newVersion(a.mappingOf('cost_center'));
    const firstOfVersion2 = await a.exportRun(true);
    await setRun(firstOfVersion2, 'delivered', 'delivered');
    const delivered = await a.exportRun(true);
    await setRun(delivered, 'delivered', 'delivered');
    // An export without delivery: a run with no rows.
    const rowless = await a.exportRun();
    const failed = await a.exportRun(true);
    await setRun(failed, 'failed', 'pending');
    // Older than any other spec's runs, in this order: with two runs a window (RETENTION_BATCH_SIZE), the first two windows hold only runs kept.
    const runs = [firstOfVersion1, queued, deliveredLate, firstOfVersion2, delivered, rowless, failed];
    for (const [i, run] of runs.entries()) await backdate('export_runs', [run], 400 - i);
    await t.dataSource.query(`UPDATE export_runs SET settled_at = now() - make_interval(days => 1) WHERE id = $1`, [deliveredLate]);
    const repository = t.app.get(RetentionRepository);
    const window = repository.exportRunWindow.bind(repository);
    const windows: { scanned: number; prunable: number }[] = [];
    const spy = jest.spyOn(repository, 'exportRunWindow').mockImplementation(async (...args) => {
      const read = await window(...args);
      windows.push({ scanned: read.scanned, prunable: read.prunable.length });
      return read;
    });
    let deleted: Awaited<ReturnType<typeof retention>>;
    try {
      deleted = await retention();
    } finally {
      spy.mockRestore();
    }
    expect(windows.slice(0, 3)).toEqual([
      { scanned: 2, prunable: 0 },
      { scanned: 2, prunable: 0 },
      { scanned: 2, prunable: 2 },
    ]);
    expect(await present('export_runs', runs)).toEqual([firstOfVersion1, queued, deliveredLate, firstOfVersion2].sort());
    expect({ queued: await rowCount(queued), deliveredLate: await rowCount(deliveredLate), firstOfVersion2: await rowCount(firstOfVersion2) }).toEqual({
      queued: 2,
      deliveredLate: 2,
      firstOfVersion2: 2,
    });
    expect(deleted).toMatchObject({ export_run_rows: expect.any(Number), export_runs: expect.any(Number) });
    expect(deleted.export_runs).toBeGreaterThanOrEqual(3);
  });

  it('leaves a run whose rows another transaction holds to the next run, and prunes the others meanwhile', async () => {
    const a = await setup();
    await a.exportRun(); // the first of its mapping versions: kept
    const held = await a.exportRun(true);
    const other = await a.exportRun(true);
    for (const run of [held, other]) await setRun(run, 'delivered', 'delivered');
    await backdate('export_runs', [held, other]);
    const holder = t.dataSource.createQueryRunner();
    await holder.startTransaction();
    try {
      await holder.query(`SELECT index FROM export_run_rows WHERE export_run_id = $1 FOR UPDATE`, [held]);
      await retention();
      expect(await present('export_runs', [held, other])).toEqual([held]);
      expect(await rowCount(held)).toBe(2);
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    await retention();
    expect(await present('export_runs', [held, other])).toEqual([]);
  });

  it('keeps audit events by default (RETENTION_AUDIT_EVENTS_DAYS=0), and logs one line per run with the counts per table', async () => {
    const a = await setup();
    const events = await insertAuditEvents(t, a.org, 3, 4000);
    t.logs.length = 0;
    const deleted = await retention();
    expect(await present('audit_events', events)).toEqual([...events].sort());
    expect(deleted).not.toHaveProperty('audit_events');
    const lines = t.logs.map((line) => JSON.parse(line)).filter((line) => line.event === 'retention_completed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      deleted: { webhook_events: expect.any(Number), sync_runs: expect.any(Number), export_run_rows: expect.any(Number), export_runs: expect.any(Number) },
      kept_forever: ['audit_events'],
    });
    expect(JSON.stringify(lines[0])).not.toContain(a.org);
  });

  it('prunes audit events older than RETENTION_AUDIT_EVENTS_DAYS when set', async () => {
    const app = await startTestApp({ env: { RETENTION_AUDIT_EVENTS_DAYS: '400' } });
    try {
      const a = await setup(app);
      const events = [...(await insertAuditEvents(app, a.org, 2, 401)), ...(await insertAuditEvents(app, a.org, 1, 399))];
      const deleted = await retention(app);
      expect(await present('audit_events', events)).toEqual([events[2]]);
      expect(deleted.audit_events).toBeGreaterThanOrEqual(2);
    } finally {
      await app.close();
    }
  });

  it('carries on with one warning line when DELETE on audit_events is revoked from the service role', async () => {
    const role = `meander_no_audit_delete_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const admin = t.dataSource;
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await admin.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
    await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    await admin.query(`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM ${role}`);
    const url = new URL(process.env.TEST_DATABASE_URL!);
    url.username = role;
    url.password = password;
    let app: TestApp | undefined;
    try {
      app = await startTestApp({ captureLogs: true, env: { DATABASE_URL: url.toString(), RETENTION_AUDIT_EVENTS_DAYS: '400' } });
      const a = await setup(app);
      const audit = await insertAuditEvents(app, a.org, 1, 401);
      const event = await a.webhook();
      await backdate('webhook_events', [event]);
      app.logs.length = 0;

      const deleted = await retention(app);

      expect(await present('audit_events', audit)).toEqual(audit);
      expect(await present('webhook_events', [event])).toEqual([]);
      expect(deleted.webhook_events).toBeGreaterThanOrEqual(1);
      const lines = app.logs.map((line) => JSON.parse(line));
      const warnings = lines.filter((line) => line.event === 'retention_delete_refused');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ table: 'audit_events', level: 40 });
      expect(lines.filter((line) => line.event === 'retention_completed')).toHaveLength(1);
    } finally {
      await app?.close();
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
    }
  });

  it('is scheduled in pg-boss (cron, once per period across instances) on a worker instance, and a job of its queue prunes', async () => {
    const worker = await startTestApp({ env: { DELIVERY_WORKERS: '1' } });
    const boss = new PgBoss({ connectionString: process.env.TEST_DATABASE_URL!, schema: JOB_QUEUE_SCHEMA, max: 1, supervise: false, schedule: false, migrate: false });
    try {
      const [schedule] = await t.dataSource.query(`SELECT cron, timezone FROM ${JOB_QUEUE_SCHEMA}.schedule WHERE name = $1`, [RETENTION_QUEUE]);
      expect(schedule).toEqual({ cron: RETENTION_CRON, timezone: 'UTC' });
      const [queue] = await t.dataSource.query(`SELECT policy FROM ${JOB_QUEUE_SCHEMA}.queue WHERE name = $1`, [RETENTION_QUEUE]);
      expect(queue).toEqual({ policy: 'short' });

      const a = await setup(worker);
      const old = await a.webhook();
      const young = await a.webhook();
      await backdate('webhook_events', [old]);
      await boss.start();
      const jobId = await boss.send(RETENTION_QUEUE, {});
      const deadline = Date.now() + 30_000;
      let state: string | undefined;
      while (Date.now() < deadline) {
        [{ state } = { state: undefined }] = await t.dataSource.query(`SELECT state FROM ${JOB_QUEUE_SCHEMA}.job WHERE id = $1`, [jobId]);
        if (state === 'completed') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(state).toBe('completed');
      expect(await present('webhook_events', [old, young])).toEqual([young]);
    } finally {
      await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
      await worker.close();
    }
  });

  it('removes its schedule when a worker instance starts with retention off (every RETENTION_*_DAYS 0)', async () => {
    const on = await startTestApp({ env: { DELIVERY_WORKERS: '1' } });
    await on.close();
    const scheduled = () => t.dataSource.query(`SELECT name FROM ${JOB_QUEUE_SCHEMA}.schedule WHERE name = $1`, [RETENTION_QUEUE]);
    expect(await scheduled()).toEqual([{ name: RETENTION_QUEUE }]);
    const off = await startTestApp({ env: { DELIVERY_WORKERS: '1', RETENTION_WEBHOOK_EVENTS_DAYS: '0', RETENTION_SYNC_RUNS_DAYS: '0', RETENTION_EXPORT_RUNS_DAYS: '0' } });
    try {
      expect(await scheduled()).toEqual([]);
    } finally {
      await off.close();
    }
  });
});

/**
 * Audit rows of the organization, `ageDays` old, written directly: the spec is about their age,
 * not what records them (and the table refuses every UPDATE, so they are not back-dated).
 */
async function insertAuditEvents(app: TestApp, orgId: string, count: number, ageDays: number): Promise<string[]> {
  const rows = (await app.dataSource.query(
    `INSERT INTO audit_events (organization_id, occurred_at, resource_type, action)
     SELECT $1, now() - make_interval(days => $3), 'integration_config', 'retention.test' FROM generate_series(1, $2) RETURNING id`,
    [orgId, count, ageDays],
  )) as { id: string }[];
  return rows.map((r) => r.id);
}
