import type { DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

/**
 * TCP keepalive on every connection to PostgreSQL (the pool's and the job queue's): a connection a
 * failover, a NAT or a load balancer dropped without a word is otherwise awaited for ever (a job
 * worker's fetch among them, which would then never fetch again).
 */
export const CONNECTION_KEEPALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } as const;

// Explicit lists instead of globs: they work the same under ts (jest) and in dist, and a glob
// like `*.{ts,js}` would also pick up the `.d.ts` files of a build.
export function dataSourceOptions(url: string, poolSize: number): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    // The schema comes from migrations only.
    synchronize: false,
    migrationsTransactionMode: 'each',
    // gen_random_uuid() is core PostgreSQL (13+): no uuid-ossp extension to create.
    uuidExtension: 'pgcrypto',
    extra: { max: poolSize, connectionTimeoutMillis: 5000, ...CONNECTION_KEEPALIVE },
    logging: false,
  } as DataSourceOptions;
}
