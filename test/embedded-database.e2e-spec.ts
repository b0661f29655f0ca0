import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataDirLockedError, startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { killAllChildren, spawnTs, waitForExit, waitForOutput } from './support/child-processes';

// Servers started and stopped, a TypeScript child compiled: seconds on a loaded machine.
jest.setTimeout(60_000);

// The database of the run (the embedded default, or DATABASE_URL): concurrent connections must
// not corrupt each other's extended-protocol statements, nor see into each other's transactions.
describe('embedded PostgreSQL under concurrent connections', () => {
  const url = () => process.env.TEST_DATABASE_URL!;
  let clients: Client[] = [];
  beforeAll(async () => {
    clients = Array.from({ length: 6 }, () => new Client({ connectionString: url() }));
    await Promise.all(clients.map((c) => c.connect()));
  });
  afterAll(() => Promise.all(clients.map((c) => c.end())));

  it('runs interleaved parameterized queries and transactions without cross-talk', async () => {
    await clients[0].query('CREATE TABLE IF NOT EXISTS concurrency_probe (client int NOT NULL, n int NOT NULL)');
    await clients[0].query('DELETE FROM concurrency_probe');
    const work = clients.map(async (client, id) => {
      let committed = 0;
      for (let n = 0; n < 40; n++) {
        if (n % 4 === 0) {
          await client.query('BEGIN');
          await client.query('INSERT INTO concurrency_probe (client, n) VALUES ($1, $2)', [id, n]);
          const { rows } = await client.query('SELECT count(*)::int AS c FROM concurrency_probe WHERE client = $1', [id]);
          // Rows that other clients insert and then roll back must never be visible here.
          const { rows: leaked } = await client.query('SELECT count(*)::int AS c FROM concurrency_probe WHERE n % 8 = 4 AND NOT (client = $1 AND n = $2)', [id, n]);
          await client.query(n % 8 === 0 ? 'COMMIT' : 'ROLLBACK');
          expect(rows[0].c).toBe(committed + 1);
          expect(leaked[0].c).toBe(0);
          if (n % 8 === 0) committed++;
        } else {
          const { rows } = await client.query('SELECT $1::int AS id, $2::text AS tag', [id, `t${n}`]);
          expect(rows).toEqual([{ id, tag: `t${n}` }]);
        }
      }
    });
    await Promise.all(work);
    const { rows } = await clients[0].query('SELECT client, count(*)::int AS c FROM concurrency_probe GROUP BY client ORDER BY client');
    // Per client: n = 0, 8, 16, 24, 32 committed; 4, 12, 20, 28, 36 rolled back.
    expect(rows).toEqual(clients.map((_, id) => ({ client: id, c: 5 })));
    await clients[0].query('DROP TABLE concurrency_probe');
  }, 60_000);
});

describe('the embedded PostgreSQL server', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'meander-embedded-'));
    // Searchable, as DATA_DIR's parents must be when the server runs as `postgres` (under root).
    chmodSync(dir, 0o711);
  });
  afterAll(() => {
    killAllChildren();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = async (url: string, sql: string, params: unknown[] = []) => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  };

  it('runs 20 queries at once: no global query queue', async () => {
    const db = await startEmbeddedPostgres({ dataDir: join(dir, 'parallel'), maxConnections: 25 });
    const clients = Array.from({ length: 20 }, () => new Client({ connectionString: db.url }));
    try {
      await Promise.all(clients.map((c) => c.connect()));
      const sleeping = clients.map((c) => c.query(`SELECT pg_sleep(30) /* parallel-probe */`).catch(() => undefined));
      // Seen active together by the server itself (a one-at-a-time server would show one).
      let active = 0;
      for (let i = 0; i < 200 && active < 20; i++) {
        [{ active }] = await query(
          db.url,
          `SELECT count(*)::int AS active FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%parallel-probe%' AND pid <> pg_backend_pid()`,
        );
        if (active < 20) await new Promise((r) => setTimeout(r, 50));
      }
      expect(active).toBe(20);
      await query(db.url, `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%parallel-probe%' AND pid <> pg_backend_pid()`);
      await Promise.all(sleeping);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await db.stop();
    }
  });

  it('keeps its data across restarts, refuses a second owner, and is found again after its owner is killed', async () => {
    const dataDir = join(dir, 'lifecycle');
    const first = await startEmbeddedPostgres({ dataDir, maxConnections: 5 });
    await query(first.url, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')`);
    await first.stop();
    await expect(query(first.url, 'SELECT 1')).rejects.toThrow();

    // Another live owner (a child process): refused clearly.
    const child = spawnTs('test/support/embedded-postgres-process.ts', [dataDir]);
    const [, childUrl] = await waitForOutput(child, /ready (\S+)\n/);
    expect(await query(childUrl, 'SELECT v FROM kept')).toEqual([{ v: 'before restart' }]);
    await expect(startEmbeddedPostgres({ dataDir, maxConnections: 5 })).rejects.toBeInstanceOf(DataDirLockedError);
    // Killed with -9, it leaves its server running: the next owner finds it and reuses it.
    child.kill('SIGKILL');
    await waitForExit(child);
    const again = await startEmbeddedPostgres({ dataDir, maxConnections: 5 });
    try {
      expect(again.url).toBe(childUrl);
      expect(await query(again.url, 'SELECT v FROM kept')).toEqual([{ v: 'before restart' }]);
    } finally {
      await again.stop();
    }
  });
});
