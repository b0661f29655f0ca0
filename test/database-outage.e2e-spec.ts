import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiClient, expectProblem, type ApiClient } from './support/api';
import { freePort, killAllChildren, spawnEmbeddedPostgres } from './support/child-processes';
import { postgresBinDir, ScratchPostgres } from './support/scratch-postgres';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(180_000);

interface StoppableDatabase {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

async function embeddedDatabase(dir: string): Promise<StoppableDatabase> {
  const port = await freePort();
  let current = await spawnEmbeddedPostgres(dir, port);
  return {
    url: current.url,
    stop: () => current.stop(),
    start: async () => {
      current = await spawnEmbeddedPostgres(dir, port);
    },
    dispose: () => current.stop(),
  };
}

async function postgresServer(dir: string): Promise<StoppableDatabase> {
  const bin = postgresBinDir();
  const server = new ScratchPostgres(bin, dir, await freePort()).init();
  server.start();
  return {
    url: server.url,
    stop: async () => server.stop('fast'),
    start: async () => server.start(),
    dispose: async () => server.stopQuietly(),
  };
}

const SERVERS: [string, (dir: string) => Promise<StoppableDatabase>][] = [
  ['the embedded PostgreSQL', embeddedDatabase],
  ['a PostgreSQL server', postgresServer],
];

describe.each(SERVERS)('when %s goes away and comes back', (_name, startDatabase) => {
  let dir: string;
  let db: StoppableDatabase;
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meander-outage-'));
    db = await startDatabase(dir);
    t = await startTestApp({ env: { DATABASE_URL: db.url }, captureLogs: true });
    api = apiClient(t);
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await db?.dispose().catch(() => undefined);
    killAllChildren();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 problems while it is down (never a 500, nothing written) and recovers without a restart', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const base = `/v1/organizations/${org}/integrations`;
    const created = await api.post(base, token, { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'k' });
    expect(created.status).toBe(201);
    const path = `${base}/${created.body.id}`;

    // Requests in flight while the database stops: each is answered, none with a 500.
    const inFlight = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? api.patch(path, token, { display_name: `n${i}` }) : api.get(path, token)));
    await db.stop();
    const answers = await Promise.all(inFlight);
    // The log names what a 500 would have been; none is expected.
    const unexpected = t.logs.filter((line) => line.includes('"unexpected error"'));
    expect({ statuses: answers.filter((res) => ![200, 503].includes(res.status)).map((res) => res.status), unexpected }).toEqual({ statuses: [], unexpected: [] });

    const read = await api.get(path, token);
    expectProblem(read, 503, 'service_unavailable');
    expectProblem(await api.get(base, token), 503, 'service_unavailable');
    const write = await api.post(base, token, { integration_type: 'hlf_portal', display_name: 'HLF', base_url: 'https://hlf.example', client_id: 'c', client_secret: 's' });
    expectProblem(write, 503, 'service_unavailable');
    expect(write.text).not.toMatch(/postgres:|ECONN|at \w+ \(/);
    expectProblem(await t.http.get('/health/ready'), 503, 'service_unavailable');
    expect((await t.http.get('/health/live')).status).toBe(200);

    await db.start();
    // The same application object, no restart: the pool reconnects on its own.
    let recovered = await api.get(path, token);
    for (let attempt = 0; recovered.status !== 200 && attempt < 50; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      recovered = await api.get(path, token);
    }
    expect(recovered.status).toBe(200);
    expect(recovered.body.id).toBe(created.body.id);
    expect((await t.http.get('/health/ready')).status).toBe(200);
    // The refused write left nothing behind: the same create now succeeds, once.
    const retried = await api.post(base, token, { integration_type: 'hlf_portal', display_name: 'HLF', base_url: 'https://hlf.example', client_id: 'c', client_secret: 's' });
    expect(retried.status).toBe(201);
    expect((await api.get(base, token)).body.items).toHaveLength(2);
  });
});
