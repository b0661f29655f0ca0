import { CannotExecuteNotConnectedError, DataSource, MigrationExecutor, type Migration } from 'typeorm';

/** The advisory-lock key space of schema migrations (first key of the two-int form): "MM", beside delivery's "MD". */
const MIGRATION_LOCK_CLASS = 0x4d4d;
/** How often a process waiting for another's migrations looks again. */
const MIGRATION_LOCK_POLL_MS = 100;

type MigrationOptions = Parameters<DataSource['runMigrations']>[0];

/**
 * A TypeORM data source whose migrations run one process at a time, across every instance and the
 * CLI: under a PostgreSQL session advisory lock, on the lock's own connection. TypeORM takes no
 * lock: instances started together all ran the same pending migrations, and all but one failed
 * (caught only by the connection retries) or, for a migration that changes data, ran it twice.
 */
export class MeanderDataSource extends DataSource {
  // Transaction modes default as TypeORM's own methods do.
  override runMigrations(options?: MigrationOptions): Promise<Migration[]> {
    return this.exclusively(options?.transaction ?? this.options.migrationsTransactionMode ?? 'all', options?.fake, (executor) => executor.executePendingMigrations());
  }

  override undoLastMigration(options?: MigrationOptions): Promise<void> {
    return this.exclusively(options?.transaction ?? 'all', options?.fake, async (executor) => {
      // TypeORM runs a migration that sets `transaction` in its own mode, but reverts every one in a
      // transaction (unless told 'none'): a `down` that drops an index CONCURRENTLY then fails. The
      // migration reverted is the last executed (the newest id, first in the list).
      const [last] = await executor.getExecutedMigrations();
      const own = last && this.migrations.find((migration) => (migration.name ?? migration.constructor.name) === last.name)?.transaction;
      if (own !== undefined) executor.transaction = own ? 'each' : 'none';
      return executor.undoLastMigration();
    });
  }

  private async exclusively<T>(transaction: MigrationExecutor['transaction'], fake: boolean | undefined, work: (executor: MigrationExecutor) => Promise<T>): Promise<T> {
    if (!this.isInitialized) throw new CannotExecuteNotConnectedError();
    const runner = this.createQueryRunner();
    try {
      // Waits for another process's migrations; the later ones then find nothing pending. Polled, not
      // pg_advisory_lock(): a session blocked in it is inside a statement, which a CREATE INDEX
      // CONCURRENTLY of the migrating process waits for (a deadlock PostgreSQL breaks by killing one).
      while (!(await runner.query('SELECT pg_try_advisory_lock($1, 0) AS locked', [MIGRATION_LOCK_CLASS]))[0].locked) {
        await new Promise((resolve) => setTimeout(resolve, MIGRATION_LOCK_POLL_MS));
      }
      try {
        const executor = new MigrationExecutor(this, runner);
        executor.transaction = transaction;
        executor.fake = fake ?? false;
        return await work(executor);
      } finally {
        // A migration run outside TypeORM's transactions may have failed inside one of its own: end
        // it, or the unlock would be refused and the lock stay with a pooled connection. The unlock
        // never hides the migration's own error (on a broken connection the lock went with it).
        await runner.query('ROLLBACK').catch(() => undefined);
        await runner.query('SELECT pg_advisory_unlock($1, 0)', [MIGRATION_LOCK_CLASS]).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }
}
