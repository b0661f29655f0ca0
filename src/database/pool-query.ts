// The one reach into TypeORM's internals (its postgres driver's pool), with a spec that fails
// when a version bump moves it: test/typeorm-internals.e2e-spec.ts. The lockfile holds the version
// that spec passes on; a host application brings its own typeorm and pg (peer dependencies).
import { Pool } from 'pg';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';

/**
 * The rows of one statement (a SELECT, or a write with RETURNING) straight on the data source's
 * pool: TypeORM's `query` takes a query runner per statement and awaits its connect, broadcasts
 * and release, ~25 µs that were ~3 % of a GET (npm run bench). Inside a transaction (a manager
 * with a query runner) the statement runs on that transaction's connection, through TypeORM, whose
 * structured result gives the rows of a write too (its plain `query` answers an UPDATE or DELETE
 * with `[rows, count]`).
 * Failures are QueryFailedError, as TypeORM's, so the problem filter maps them the same way and
 * never logs their SQL or parameters.
 */
export function queryRows<T>(db: DataSource | EntityManager, sql: string, parameters: readonly unknown[]): Promise<T[]> {
  const manager: EntityManager = 'dataSource' in db ? db : db.manager;
  if (manager.queryRunner) return manager.queryRunner.query(sql, parameters as unknown[], true).then((result) => result.records as T[]);
  const pool = driverPool(manager);
  // A promise chain rather than an async function: one promise less per statement.
  return pool.query(sql, parameters as unknown[]).then(
    (result) => result.rows as T[],
    (error: Error) => Promise.reject(new QueryFailedError(sql, parameters as unknown[], error)),
  );
}

/** The pg Pool of TypeORM's postgres driver (`driver.master`: not public API). */
export function driverPool(db: DataSource | EntityManager): Pool {
  const manager: EntityManager = 'dataSource' in db ? db : db.manager;
  const pool = (manager.dataSource.driver as unknown as { master?: unknown }).master;
  // Or by shape: TypeORM loads the pg a host installed, which need not be this package's copy.
  if (!(pool instanceof Pool) && !isPool(pool)) throw new Error("TypeORM's postgres driver no longer keeps its pg Pool at driver.master");
  return pool;
}

function isPool(value: unknown): value is Pool {
  const pool = value as Partial<Pool> | undefined;
  return typeof pool?.query === 'function' && typeof pool.connect === 'function' && typeof pool.totalCount === 'number';
}
