import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { deliverySweepCron, JobQueue } from '../src/job-queue/job-queue';
import { startTestApp, testConfig } from './support/test-app';

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

  it('schedules the delivery sweep on a worker instance every DELIVERY_SWEEP_MINUTES, off the top of the hour', async () => {
    expect([1, 10, 15, 60].map(deliverySweepCron)).toEqual(['0-59/1 * * * *', '3-59/10 * * * *', '3-59/15 * * * *', '3-59/60 * * * *']);
    const app = await startTestApp({ env: { DELIVERY_WORKERS: '1', DELIVERY_SWEEP_MINUTES: '15' } });
    try {
      expect(await app.dataSource.query(`SELECT cron, timezone FROM pgboss.schedule WHERE name = 'meander-delivery-sweep'`)).toEqual([
        { cron: '3-59/15 * * * *', timezone: 'UTC' },
      ]);
    } finally {
      // No later suite's app works the sweep (it is off in tests): its cron would only queue jobs for nobody.
      await app.dataSource.query(`DELETE FROM pgboss.schedule WHERE name = 'meander-delivery-sweep'`);
      await app.close();
    }
  });
});
