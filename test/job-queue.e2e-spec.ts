import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { JobQueue } from '../src/job-queue/job-queue';
import { testConfig } from './support/test-app';

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
});
