import type { DataSource } from 'typeorm';
import { readJobQueuesWithin } from './job-queues';

// The real database's side (a read that cannot start in time) is test/metrics.e2e-spec.ts's.
describe('readJobQueuesWithin', () => {
  it('reports a queue it failed to read as unknown, and hands the error on', async () => {
    const failures: unknown[] = [];
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const database = { transaction: () => Promise.reject(terminated) } as unknown as DataSource;
    expect(await readJobQueuesWithin(database, 1_000, (error) => failures.push(error))).toBeNull();
    expect(failures).toEqual([terminated]);
  });

  it('does not wait past its time for an answer that does not come', async () => {
    const failures: unknown[] = [];
    const database = { transaction: () => new Promise(() => undefined) } as unknown as DataSource;
    expect(await readJobQueuesWithin(database, 20, (error) => failures.push(error))).toBeNull();
    expect(failures).toEqual([]);
  });
});
