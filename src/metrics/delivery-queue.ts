import type { DataSource, EntityManager } from 'typeorm';
import { queryRows } from '../database/pool-query';
import { DELIVERY_QUEUE, JOB_QUEUE_SCHEMA } from '../job-queue/job-queue';
import type { QueueSnapshot } from './service-metrics';
import { driverErrorOf } from '../database/driver-error';

// undefined_table, invalid_schema_name: pg-boss creates its schema on the first queue or worker.
const NOT_CREATED_YET = new Set(['42P01', '3F000']);

/**
 * The delivery queue now: jobs waiting (`created` or `retry`: pg-boss's `state < 'active'`, which
 * its index on (name, start_after) covers), split into due and scheduled. Zero while pg-boss has
 * not created its schema yet; failures of the database itself are the caller's.
 */
export async function readDeliveryQueue(db: DataSource | EntityManager, schema = JOB_QUEUE_SCHEMA): Promise<QueueSnapshot> {
  try {
    const [row] = await queryRows<{ due: number; scheduled: number; oldest_due_seconds: number }>(
      db,
      `SELECT count(*) FILTER (WHERE start_after <= now())::int AS due,
              count(*) FILTER (WHERE start_after > now())::int AS scheduled,
              COALESCE(EXTRACT(EPOCH FROM now() - min(start_after) FILTER (WHERE start_after <= now())), 0)::float8 AS oldest_due_seconds
         FROM "${schema}".job
        WHERE name = $1 AND state < 'active'`,
      [DELIVERY_QUEUE],
    );
    return { due: row.due, scheduled: row.scheduled, oldestDueSeconds: row.oldest_due_seconds };
  } catch (error) {
    const code = driverErrorOf(error)?.code;
    if (code && NOT_CREATED_YET.has(code)) return { due: 0, scheduled: 0, oldestDueSeconds: 0 };
    throw error;
  }
}

/**
 * The queue as readDeliveryQueue reads it, or null (reported as unknown) when it could not be read
 * within `timeoutMs`: the answer is not waited for longer, and the query is bounded on the server
 * too (statement_timeout), so one the scrape stopped waiting for does not keep holding a
 * connection of the API's pool while the database is slow. A failed read is `onUnreadable`'s.
 */
export async function readDeliveryQueueWithin(dataSource: DataSource, timeoutMs: number, onUnreadable: (error: unknown) => void): Promise<QueueSnapshot | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      dataSource.transaction(async (manager) => {
        await manager.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
        return readDeliveryQueue(manager);
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
