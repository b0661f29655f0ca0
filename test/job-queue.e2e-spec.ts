import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { Transaction } from '../src/database/transaction';
import { deliverySweepCron, JobQueue } from '../src/job-queue/job-queue';
import { startTestApp, testConfig } from './support/test-app';
import { waitFor } from './support/wait';

describe('the job queue (real database)', () => {
  it('starts on the next use after a failed start, rather than refusing every job until a restart', async () => {
    const reachable = process.env.TEST_DATABASE_URL as string;
    // The database away (nothing listens on port 1), then back: the same AppConfig object, as a host might fix its settings.
    const config = testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    const queue = new JobQueue(config);
    const job = { orgId: randomUUID(), integrationId: randomUUID() };
    try {
      await expect(queue.enqueueDelivery(job)).rejects.toThrow();
      Object.assign(config, { databaseUrl: reachable });
      await queue.enqueueDelivery(job);
      const db = new Client({ connectionString: reachable });
      await db.connect();
      try {
        const { rows } = await db.query(`SELECT state FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1`, [job.integrationId]);
        expect(rows).toEqual([{ state: 'created' }]);
      } finally {
        await db.end();
      }
    } finally {
      await queue.onApplicationShutdown();
    }
  });

  /** A client on the test database, for what the queue's own table says. */
  async function withDb<T>(work: (db: Client) => Promise<T>): Promise<T> {
    const db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
    try {
      return await work(db);
    } finally {
      await db.end();
    }
  }

  it('schedules the delivery sweep every DELIVERY_SWEEP_MINUTES, off the top of the hour, and unschedules it', async () => {
    expect([1, 10, 15, 60].map(deliverySweepCron)).toEqual(['0-59/1 * * * *', '3-59/10 * * * *', '3-59/15 * * * *', '3-59/60 * * * *']);
    const queue = new JobQueue(testConfig({ DELIVERY_SWEEP_MINUTES: '15' }));
    const schedule = () => withDb(async (db) => (await db.query(`SELECT cron, timezone FROM pgboss.schedule WHERE name = 'meander-delivery-sweep'`)).rows);
    try {
      await queue.workDeliverySweep(async () => undefined);
      expect(await schedule()).toEqual([{ cron: '3-59/15 * * * *', timezone: 'UTC' }]);
      // DELIVERY_SWEEP_MINUTES=0 on an instance: no more jobs for nobody.
      await queue.unscheduleDeliverySweep();
      expect(await schedule()).toEqual([]);
    } finally {
      await queue.onApplicationShutdown();
    }
  });

  it('a worker instance schedules the sweep by its DELIVERY_SWEEP_MINUTES, and one set to 0 unschedules it; an API-only instance leaves it', async () => {
    const schedule = () => withDb(async (db) => (await db.query(`SELECT cron FROM pgboss.schedule WHERE name = 'meander-delivery-sweep'`)).rows);
    const started = async (env: Record<string, string>) => (await startTestApp({ env })).close();
    try {
      // Minute 3 of the hour only: the sweep (every organization's waiting runs) is not run under the suite's other specs.
      await started({ DELIVERY_WORKERS: '1', DELIVERY_SWEEP_MINUTES: '60' });
      expect(await schedule()).toEqual([{ cron: '3-59/60 * * * *' }]);
      await started({ DELIVERY_WORKERS: '0', DELIVERY_SWEEP_MINUTES: '0' });
      expect(await schedule()).toEqual([{ cron: '3-59/60 * * * *' }]);
      await started({ DELIVERY_WORKERS: '1', DELIVERY_SWEEP_MINUTES: '0' });
      expect(await schedule()).toEqual([]);
    } finally {
      await withDb((db) => db.query(`DELETE FROM pgboss.schedule WHERE name = 'meander-delivery-sweep'`));
    }
  });

  it("a job queued in a transaction while the config's job is due holds that job until the commit: no worker takes it without the new run", async () => {
    const queue = new JobQueue(testConfig());
    const job = { orgId: randomUUID(), integrationId: randomUUID() };
    // As pg-boss 10's fetch reads the queue (plans.js fetchNextJob), for this config's job only: the suite's other jobs are not ours to take.
    const fetchable = (integrationId: string) =>
      withDb(async (db) => {
        await db.query('BEGIN');
        const { rows } = await db.query(
          `SELECT id FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state < 'active' AND start_after < now() FOR UPDATE SKIP LOCKED`,
          [integrationId],
        );
        await db.query('ROLLBACK');
        return rows;
      });
    try {
      await queue.enqueueDelivery(job);
      await withDb(async (tx) => {
        await tx.query('BEGIN');
        // The export's transaction (its run not committed yet) queues the config's delivery: pg-boss drops the send.
        await queue.enqueueDelivery(job, undefined, { sqlExecutor: () => ({ executeSql: (text: string, values: unknown[]) => tx.query(text, values) }) } as unknown as Transaction);
        // A worker looking now must not take the job: it would find no run and complete, leaving the new one without a job.
        // pg-boss's fetch takes due jobs FOR UPDATE SKIP LOCKED: this config's must be skipped now.
        expect(await fetchable(job.integrationId)).toEqual([]);
        await tx.query('COMMIT');
      });
      expect(await fetchable(job.integrationId)).toHaveLength(1);
    } finally {
      await queue.onApplicationShutdown();
    }
  });
  it('keeps an alert job through its longest backoff at the largest ALERT_RETRY_DELAY_SECONDS: pg-boss never moves keep_until on a retry', async () => {
    // The largest delay allowed (src/config/app-config.spec.ts: 3601 is refused); 8 retries.
    const delay = 3600;
    const queue = new JobQueue(testConfig({ ALERT_RETRY_DELAY_SECONDS: String(delay) }));
    const orgId = randomUUID();
    const stored = () =>
      withDb(
        async (db) =>
          (
            await db.query(
              `SELECT state, extract(epoch FROM start_after)::float AS start_after, extract(epoch FROM keep_until)::float AS keep_until FROM pgboss.job WHERE name = 'meander-alerts' AND data->>'orgId' = $1`,
              [orgId],
            )
          ).rows as { state: string; start_after: number; keep_until: number }[],
      );
    try {
      await queue.enqueueAlert({ orgId, endpointId: randomUUID(), event: { id: 'alert_kept' } });
      const [queued] = await stored();
      // Retry n waits delay × 2^(n-1) × (1..2) (pg-boss 10 plans.js failJobs): the last starts at most this long after the first send.
      const longestBackoff = Array.from({ length: 8 }, (_, n) => delay * 2 ** n * 2).reduce((a, b) => a + b);
      // Covered, with pg-boss's own 14 days of slack (workers down) still on top.
      expect(queued.keep_until - queued.start_after).toBeGreaterThanOrEqual(longestBackoff + 14 * 86_400);

      // The first send fails: the job waits out its first retry, keep_until where it was.
      await queue.workAlerts(1, async (job) => {
        if (job.orgId === orgId) throw new Error('the alert endpoint answered 503');
      });
      const [retrying] = await waitFor(stored, (rows) => rows[0]?.state === 'retry', 20_000);
      expect(retrying.start_after).toBeGreaterThanOrEqual(queued.start_after + delay);
      expect(retrying.keep_until).toBe(queued.keep_until);
    } finally {
      await queue.onApplicationShutdown();
      await withDb((db) => db.query(`DELETE FROM pgboss.job WHERE name = 'meander-alerts' AND data->>'orgId' = $1`, [orgId]));
    }
  });

  it("a failing job keeps its error's name and message only: never a statement's parameters, which may hold a NUL jsonb refuses", async () => {
    const queue = new JobQueue(testConfig());
    const job = { orgId: randomUUID(), integrationId: randomUUID() };
    const stored = () =>
      withDb(async (db) => (await db.query(`SELECT state, output FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1`, [job.integrationId])).rows);
    try {
      await queue.workDeliveries(1, async (data) => {
        // Other specs' leftover jobs are not this one's to fail.
        if (data.integrationId !== job.integrationId) return;
        throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { name: 'QueryFailedError', parameters: ['refused \u0000', 'client-secret-value'] });
      });
      await queue.enqueueDelivery(job);
      // pg-boss stores the failure in a call it does not await: refused, the job would stay active and the rejection end the process.
      const [failed] = await waitFor(stored, (rows) => rows[0]?.state === 'retry', 20_000);
      expect(failed.output).toMatchObject({ message: 'QueryFailedError: invalid byte sequence for encoding "UTF8": 0x00' });
      expect(JSON.stringify(failed.output)).not.toMatch(/client-secret-value|parameters/);
    } finally {
      await queue.onApplicationShutdown();
      await withDb((db) => db.query(`DELETE FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1`, [job.integrationId]));
    }
  });
});
