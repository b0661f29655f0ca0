import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Pool, type PoolClient } from 'pg';
import type PgBoss from 'pg-boss';
import { QueryFailedError } from 'typeorm';
import { JobQueue } from '../src/job-queue/job-queue';
import { driverPool, queryRows } from '../src/database/pool-query';
import { startTestApp, type TestApp } from './support/test-app';

// What the service assumes of TypeORM beyond its public API (src/database/pool-query.ts).
describe("TypeORM's postgres driver, as the hot paths use it", () => {
  let t: TestApp;
  beforeAll(async () => (t = await startTestApp()));
  afterAll(() => t.close());

  it('keeps its pg Pool at driver.master, the one the data source queries with', async () => {
    const pool = driverPool(t.dataSource);
    expect(pool).toBeInstanceOf(Pool);
    expect(pool.totalCount).toBeGreaterThan(0);
    const [{ pid }] = await queryRows<{ pid: number }>(t.dataSource, 'SELECT pg_backend_pid() AS pid', []);
    expect(typeof pid).toBe('number');
  });

  it("keeps TCP keepalive on its connections to PostgreSQL, the pool's and the job queue's (a silently dropped one is found dead)", async () => {
    // The kernel's own view (ss): a keepalive timer on the socket.
    const keepaliveOf = (client: PoolClient) => {
      const { localPort } = (client as unknown as { connection: { stream: Socket } }).connection.stream;
      return execFileSync('ss', ['-tnoH', 'state', 'established', `sport = :${localPort}`], { encoding: 'utf8' });
    };
    const client = await driverPool(t.dataSource).connect();
    try {
      expect(keepaliveOf(client)).toContain('timer:(keepalive');
    } finally {
      client.release();
    }
    const queue = t.app.get(JobQueue);
    await queue.enqueueDelivery({ orgId: randomUUID(), integrationId: randomUUID() });
    const boss = (await queue['boss']) as PgBoss;
    const jobsClient = await (boss.getDb() as unknown as { pool: Pool }).pool.connect();
    try {
      expect(keepaliveOf(jobsClient)).toContain('timer:(keepalive');
    } finally {
      jobsClient.release();
    }
  });

  it('reports a failed statement on the pool as TypeORM does: QueryFailedError with the driver error', async () => {
    const failure = await queryRows(t.dataSource, 'SELECT * FROM no_such_table', []).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(QueryFailedError);
    expect((failure as QueryFailedError).driverError).toMatchObject({ code: '42P01' });
  });

  it('runs a statement inside a transaction on that transaction', async () => {
    const pids = await t.dataSource.transaction(async (manager) => {
      const [{ pid: outer }] = await manager.query('SELECT pg_backend_pid() AS pid');
      const [{ pid: inner }] = await queryRows<{ pid: number }>(manager, 'SELECT pg_backend_pid() AS pid', []);
      return [outer, inner];
    });
    expect(pids[0]).toBe(pids[1]);
  });
});
