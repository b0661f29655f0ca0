import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { issueToken } from '../src/auth/issue-token';
import type { SyncFrequency } from '../src/integration-config/integration-config.entity';
import { nextSlot } from '../src/sync/sync-schedule';
import { killAllChildren, startServiceProcess, waitForExit, type ServiceProcess } from './support/child-processes';
import { startDataverseFake, type DataverseFake } from './support/fakes/dataverse-fake';
import { startXledgerFake, type XledgerFake } from './support/fakes/xledger-fake';
import { TEST_JWT_SECRET } from './support/test-app';
import { testCertificate } from './support/tls';
import { waitFor } from './support/wait';

jest.setTimeout(180_000);

const TENANT = 'contoso.onmicrosoft.com';
const CLIENT_ID = randomUUID();
const CLIENT_SECRET = `Qx8Q~dv.${randomBytes(18).toString('base64url')}`;
const ENTITY_SET = 'msdyn_expenses';
const ALTERNATE_KEY = 'meander_reference';
const MENTOR = '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f';
const ROWS = 40;
const XLEDGER_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
];
const DYNAMICS_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'ExpenseAmount', is_required: true },
  { source_field: 'expense_date', target_field: 'ExpenseDate', is_required: true },
  { source_field: 'peer_mentor_id', target_field: 'ContactId', is_required: true },
];
/** pg_locks' objid of a delivery lock (src/sync/delivery-lock.ts: the pair "MD", hashtext(config id)). */
const LOCK_HOLDER = `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 19780 AND l.objid = (hashtext($1)::bigint & 4294967295)::oid`;

interface Config {
  kind: 'xledger' | 'dynamics';
  org: string;
  token: string;
  id: string;
  path: string;
}

/**
 * Three real service processes (src/main.ts) on one database, delivering over HTTPS to the Xledger
 * and Dataverse fakes through the real connectors, exports queued through every instance:
 * scheduled configs' slots fire once whichever instance is polling, and the instance whose
 * Xledger answer is held (the items already created) is killed with SIGKILL; the others finish.
 * Each vendor holds every row once (Xledger by extIdentifier, Dataverse by alternate key: a
 * re-send is not a second creation), every attempt is one sync run, nothing stays delivering.
 * (test/delivery-processes.e2e-spec.ts proves the same with a test connector and a database sink.)
 */
describe('delivery across three service instances, to the vendor fakes (real processes, real database)', () => {
  let db: Client;
  let xl: XledgerFake;
  let dv: DataverseFake;
  const apiKey = `xl-${randomBytes(24).toString('base64url')}`;
  const instances = new Map<string, ServiceProcess>();

  beforeAll(async () => {
    const { caFile } = await testCertificate();
    xl = await startXledgerFake({ apiKey });
    dv = await startDataverseFake({
      tenant: TENANT,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      entitySets: { [ENTITY_SET]: ALTERNATE_KEY },
      lookups: { [ENTITY_SET]: { ContactId: 'contacts' } },
    });
    db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
    const started = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        startServiceProcess({
          // Names its connections, so the test sees which instance holds a config's lock.
          PGAPPNAME: `instance-${name}`,
          DELIVERY_WORKERS: '2',
          DELIVERY_BACKOFF_BASE_MS: '200',
          // The killed instance's job comes back within seconds.
          DELIVERY_JOB_TIMEOUT_SECONDS: '3',
          EGRESS_ALLOW_PRIVATE: 'true',
          DYNAMICS_AUTHORITY_URL: dv.authorityUrl,
          NODE_EXTRA_CA_CERTS: caFile,
        }),
      ),
    );
    started.forEach((service, i) => instances.set(`instance-${'abc'[i]}`, service));
  }, 180_000);

  afterAll(async () => {
    killAllChildren();
    await Promise.all([xl?.close(), dv?.close()]);
    await db?.end();
  });

  async function call(service: ServiceProcess, method: string, path: string, token: string, body?: unknown) {
    const res = await fetch(`${service.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async function createConfig(service: ServiceProcess, kind: Config['kind'], extra: Record<string, unknown> = {}): Promise<Config> {
    const org = randomUUID();
    const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org });
    const common = { enabled: true, sync_frequency: 'realtime', display_name: kind };
    const body =
      kind === 'xledger'
        ? { ...common, integration_type: 'xledger', base_url: xl.url, api_key: apiKey, ...extra }
        : {
            ...common,
            integration_type: 'dynamics',
            base_url: dv.url,
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            tenant_id: TENANT,
            extra_config: { entity_set: ENTITY_SET, alternate_key: ALTERNATE_KEY },
          };
    const created = await call(service, 'POST', `/v1/organizations/${org}/integrations`, token, body);
    expect(created.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${created.body.id}`;
    expect((await call(service, 'POST', `${path}/field-mappings/bulk`, token, { items: kind === 'xledger' ? XLEDGER_MAPPINGS : DYNAMICS_MAPPINGS })).status).toBe(201);
    return { kind, org, token, id: created.body.id, path };
  }

  /** Two exports of each config, each through another instance; the runs. */
  async function exportTwice(configs: Config[]): Promise<{ config: Config; runId: string }[]> {
    const services = [...instances.values()];
    const records = () =>
      Array.from({ length: ROWS }, (_, i) => ({ claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: i + 1.25, expense_date: '2026-11-20', peer_mentor_id: MENTOR }));
    return Promise.all(
      configs.flatMap((config, i) =>
        [0, 1].map(async (k) => {
          const res = await call(services[(i + k) % services.length], 'POST', `${config.path}/exports`, config.token, { records: records(), deliver: true });
          expect({ status: res.status, run: res.body.status }).toEqual({ status: 202, run: 'queued' });
          return { config, runId: res.body.id as string };
        }),
      ),
    );
  }

  const deliveryJobs = async (configIds: string[]) =>
    (
      await db.query(
        `SELECT singleton_key AS config, state FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = ANY($1)
         UNION ALL SELECT singleton_key, state FROM pgboss.archive WHERE name = 'meander-deliveries' AND singleton_key = ANY($1)`,
        [configIds],
      )
    ).rows as { config: string; state: string }[];

  it('delivers every row once to each vendor: slots fire once across instances, an instance killed mid-request (kill -9) is made up for by the others', async () => {
    const [a, b, c] = [...instances.values()];
    const services = [a, b, c];
    // Scheduled configs, their runs queued through every instance: one waiting job each, at its slot.
    // Zones whose next slot is minutes away (their slots are apart): none fires by itself during the test.
    const farOff = (frequency: SyncFrequency, zones: string[]) =>
      zones
        .filter((zone) => nextSlot(frequency, new Date(), zone)!.getTime() - Date.now() > 10 * 60_000)
        .map((zone) => ({ sync_frequency: frequency, extra_config: { sync_time_zone: zone } }));
    const schedules = [
      ...farOff('hourly', ['Asia/Kolkata', 'Asia/Kathmandu']).slice(0, 1),
      ...farOff('daily', ['America/New_York', 'Europe/Oslo', 'Pacific/Auckland']).slice(0, 2),
    ];
    const scheduled = [await createConfig(a, 'xledger', schedules[0]), await createConfig(b, 'xledger', schedules[1]), await createConfig(c, 'xledger', schedules[2])];
    const scheduledRuns = await exportTwice(scheduled);
    const waiting = await deliveryJobs(scheduled.map((s) => s.id));
    expect(waiting.sort((x, y) => x.config.localeCompare(y.config))).toEqual(
      scheduled.map((s) => ({ config: s.id, state: 'created' })).sort((x, y) => x.config.localeCompare(y.config)),
    );

    // Realtime configs; the first Xledger request is carried out and its answer held.
    const realtime: Config[] = [];
    for (let i = 0; i < 6; i++) realtime.push(await createConfig(services[i % 3], i % 3 === 2 ? 'dynamics' : 'xledger'));
    const dynamicsCreatedBefore = dv.createdCount;
    const hold = xl.holdNext();
    const realtimeRuns = await exportTwice(realtime);
    const held = await waitFor(
      () => xl.requests.find((r) => r.operation === 'addGLImportItems'),
      (r) => r !== undefined,
      60_000,
    );
    const heldRun = String((Object.values(held!.body!.variables!)[0] as { node: { extIdentifier: string } }[])[0].node.extIdentifier).split(':')[1];
    const heldConfig = realtimeRuns.find((r) => r.runId === heldRun)!.config;
    const [holder] = (await db.query(LOCK_HOLDER, [heldConfig.id])).rows as { application_name: string }[];
    const victim = instances.get(holder.application_name)!;
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.once('exit', resolve));
    hold.release();

    // The slot comes: due now by the database's clock, whichever instance polls first.
    await db.query(`UPDATE pgboss.job SET start_after = now() WHERE name = 'meander-deliveries' AND singleton_key = ANY($1) AND state = 'created'`, [scheduled.map((s) => s.id)]);

    const runs = [...scheduledRuns, ...realtimeRuns];
    const runIds = runs.map((r) => r.runId);
    const statuses = await waitFor(
      async () => (await db.query(`SELECT status, count(*)::int AS n FROM export_runs WHERE id = ANY($1) GROUP BY status`, [runIds])).rows,
      (rows) => rows.length === 1 && rows[0].status === 'delivered',
      90_000,
      250,
    );
    expect(statuses).toEqual([{ status: 'delivered', n: runs.length }]);

    // Xledger created each row once: its ledger holds exactly these extIdentifiers. A row sent twice
    // is one whose answer the killed instance never stored: only runs with a worker_lost attempt.
    const xledgerRuns = runs.filter((r) => r.config.kind === 'xledger');
    const expected = xledgerRuns.flatMap((r) => Array.from({ length: ROWS }, (_, i) => `meander:${r.runId}:${i}`)).sort();
    expect([...xl.items.keys()].sort()).toEqual(expected);
    const sent = new Map<string, number>();
    for (const request of xl.requests.filter((r) => r.operation === 'addGLImportItems')) {
      for (const input of Object.values(request.body?.variables ?? {})[0] as { node: { extIdentifier: string } }[])
        sent.set(input.node.extIdentifier, (sent.get(input.node.extIdentifier) ?? 0) + 1);
    }
    const lostConfigs = (await db.query(`SELECT DISTINCT integration_id FROM sync_runs WHERE error = 'worker_lost'`)).rows.map((r) => r.integration_id as string);
    expect(lostConfigs).toContain(heldConfig.id);
    const resentRuns = new Set([...sent].filter(([, n]) => n > 1).map(([reference]) => reference.split(':')[1]));
    expect(resentRuns.has(heldRun)).toBe(true);
    for (const run of resentRuns) expect(lostConfigs).toContain(runs.find((r) => r.runId === run)!.config.id);
    expect(Math.max(...sent.values())).toBe(2);
    // Dataverse: an upsert by alternate key re-sent updates, it never creates again.
    const dynamicsRows = runs.filter((r) => r.config.kind === 'dynamics').length * ROWS;
    expect(dv.createdCount - dynamicsCreatedBefore).toBe(dynamicsRows);
    expect(dv.table(ENTITY_SET)).toHaveLength(dynamicsRows);

    // Each scheduled config's slot fired once: its one job, completed, delivering both runs.
    const fired = await deliveryJobs(scheduled.map((s) => s.id));
    expect(fired.map((j) => j.state).sort()).toEqual(['completed', 'completed', 'completed']);

    // Every attempt is one sync run, and the config's last_sync_* is its last; nothing left delivering.
    expect((await db.query(`SELECT count(*)::int AS n FROM export_runs WHERE status = 'delivering'`)).rows[0].n).toBe(0);
    for (const config of [...scheduled, ...realtime]) {
      const { rows: attempts } = await db.query(`SELECT coalesce(sum(delivery_attempts), 0)::int AS n FROM export_runs WHERE integration_id = $1`, [config.id]);
      const { rows: syncRuns } = await db.query(`SELECT status, error, finished_at FROM sync_runs WHERE integration_id = $1 ORDER BY seq`, [config.id]);
      const { rows: last } = await db.query(`SELECT last_sync_status, last_sync_error, last_sync_at FROM integration_configs WHERE id = $1`, [config.id]);
      expect(syncRuns).toHaveLength(attempts[0].n);
      const final = syncRuns[syncRuns.length - 1];
      expect(last[0]).toEqual({ last_sync_status: 'success', last_sync_error: null, last_sync_at: final.finished_at });
      expect(final).toMatchObject({ status: 'success', error: null });
    }

    const survivors = services.filter((s) => s !== victim);
    for (const service of survivors) service.child.kill('SIGTERM');
    expect(await Promise.all(survivors.map((service) => waitForExit(service.child, 60_000)))).toEqual([0, 0]);
  });
});
