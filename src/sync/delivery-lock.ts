import { Injectable, Logger } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { InjectMeanderDataSource } from '../database/database.module';
import { Transaction } from '../database/transaction';

// The advisory-lock key space of delivery attempts (first key of the two-int form): "MD".
const DELIVERY_LOCK_CLASS = 0x4d44;

/**
 * A held lock. Its connection, for the attempt's reads and writes, which must fail once the lock is
 * gone (it goes with the connection): `repository.in(lock.session)`, or `lock.transaction(…)` for
 * writes that commit together. Another attempt may hold the config by then.
 */
export interface HeldLock {
  readonly session: Transaction;
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

/**
 * One delivery attempt per config at a time, across every instance: a PostgreSQL session
 * advisory lock on a connection of its own, held for the attempt. The job queue hands a config's
 * job to one worker, but a job can outlive its expiry (a slow attempt) and be handed out again;
 * the lock is what makes a second attempt wait. A worker that dies (kill -9) loses its
 * connection, and the server releases the lock with it: nothing to clean up.
 */
@Injectable()
export class DeliveryLocks {
  private readonly logger = new Logger('DeliveryLocks');

  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {}

  /** Runs `work` holding the config's lock; `{ acquired: false }` at once when another attempt holds it. */
  async withConfigLock<T>(configId: string, work: (lock: HeldLock) => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const [{ locked }] = (await runner.query(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked`, [DELIVERY_LOCK_CLASS, configId])) as { locked: boolean }[];
      if (!locked) return { acquired: false };
      try {
        // A transaction on the lock's own connection (TypeORM uses a manager's runner when it has one); the session lock outlives it.
        const transaction = <T>(writes: (tx: Transaction) => Promise<T>) => runner.manager.transaction((manager) => writes(new Transaction(manager)));
        return { acquired: true, value: await work({ session: new Transaction(runner.manager), transaction }) };
      } finally {
        await this.unlock(runner, configId);
      }
    } finally {
      await runner.release();
    }
  }

  private async unlock(runner: QueryRunner, configId: string): Promise<void> {
    try {
      await runner.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [DELIVERY_LOCK_CLASS, configId]);
    } catch (error) {
      // The connection is gone, and the server released the lock with it.
      this.logger.warn({ event: 'delivery_unlock_failed', config_id: configId, err: { name: (error as Error)?.name, message: (error as Error)?.message } });
    }
  }
}
