import type { DataSource, EntityManager } from 'typeorm';
import { queryRows } from '../database/pool-query';
import { ALERT_QUEUE, DELIVERY_QUEUE, JOB_QUEUE_SCHEMA } from '../job-queue/job-queue';
import type { JobQueuesSnapshot, QueueSnapshot } from './service-metrics';
import { driverErrorOf } from '../database/driver-error';

// undefined_table, invalid_schema_name: pg-boss creates its schema on the first queue or worker.
const NOT_CREATED_YET = new Set(['42P01', '3F000']);

const EMPTY: QueueSnapshot = { due: 0, scheduled: 0, oldestDueSeconds: 0 };

/**
 * The delivery and alert queues now, in one statement: jobs waiting (`created` or `retry`:
 * pg-boss's `state < 'active'`, which its index on (name, start_after) covers), split into due and
 * scheduled. Empty while pg-boss has not created its schema yet; failures of the database itself
 * are the caller's.
 */
export async function readJobQueues(db: DataSource | EntityManager, schema = JOB_QUEUE_SCHEMA): Promise<JobQueuesSnapshot> {
  try {
    const rows = await queryRows<{ name: string; due: number; scheduled: number; oldest_due_seconds: number }>(
      db,
      `SELECT name,
              count(*) FILTER (WHERE start_after <= now())::int AS due,
              count(*) FILTER (WHERE start_after > now())::int AS scheduled,
              COALESCE(EXTRACT(EPOCH FROM now() - min(start_after) FILTER (WHERE start_after <= now())), 0)::float8 AS oldest_due_seconds
         FROM "${schema}".job
        WHERE name = ANY($1) AND state < 'active'
        GROUP BY name`,
      [[DELIVERY_QUEUE, ALERT_QUEUE]],
    );
    const of = (name: string): QueueSnapshot => {
      const row = rows.find((r) => r.name === name);
      return row ? { due: row.due, scheduled: row.scheduled, oldestDueSeconds: row.oldest_due_seconds } : EMPTY;
    };
    return { delivery: of(DELIVERY_QUEUE), alerts: of(ALERT_QUEUE) };
  } catch (error) {
    const code = driverErrorOf(error)?.code;
    if (code && NOT_CREATED_YET.has(code)) return { delivery: EMPTY, alerts: EMPTY };
    throw error;
  }
}

/**
 * The queues as readJobQueues reads them, or null (reported as unknown) when it could not be read
 * within `timeoutMs`: the answer is not waited for longer, and the query is bounded on the server
 * too (statement_timeout), so one the scrape stopped waiting for does not keep holding a
 * connection of the API's pool while the database is slow. A failed read is `onUnreadable`'s.
 */
export async function readJobQueuesWithin(dataSource: DataSource, timeoutMs: number, onUnreadable: (error: unknown) => void): Promise<JobQueuesSnapshot | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      dataSource.transaction(async (manager) => {
        await manager.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
        return readJobQueues(manager);
      }),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
  } catch (error) {
    onUnreadable(error);
    return null;
  } finally {
    clearTimeout(timer);
  }
}
