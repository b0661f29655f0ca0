import { Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { InjectMeanderDataSource } from './database.module';

/**
 * One database transaction as a unit of work: repositories bound to it (`repository.in(tx)`)
 * run on its connection, and everything commits or rolls back together. Services pass this
 * handle, never an EntityManager.
 */
export class Transaction {
  /** Only repositories read it (TableRepository.in). */
  constructor(readonly manager: EntityManager) {}

  /** The transaction as a library that runs its own SQL takes it (pg-boss's `db`): its jobs commit or roll back with the rest. */
  sqlExecutor(): { executeSql(text: string, values: unknown[]): Promise<{ rows: unknown[] }> } {
    const runner = this.manager.queryRunner;
    if (!runner) throw new Error('Transaction without a query runner');
    return { executeSql: async (text, values) => ({ rows: (await runner.query(text, values, true)).records as unknown[] }) };
  }
}

@Injectable()
export class TransactionRunner {
  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {}

  run<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((manager) => work(new Transaction(manager)));
  }
}
