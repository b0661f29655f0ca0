import { randomBytes, randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { createApp } from '../src/app.factory';
import { dataSourceOptions } from '../src/database/data-source-options';
import { MeanderDataSource } from '../src/database/meander-data-source';
import { MIGRATIONS } from '../src/database/migrations';
import { LOCK_TIMEOUT_MS } from '../src/database/migrations/1763800000015-org-consistent-foreign-keys';
import { schemaSnapshot } from './support/schema-snapshot';
import { testConfig } from './support/test-app';
import { copyOfTemplate, dropDatabase, emptyDatabase, urlOf } from './support/template-database';

jest.setTimeout(60_000);

const executedMigrations = async (dataSource: DataSource) => ((await dataSource.query(`SELECT name FROM migrations ORDER BY id`)) as { name: string }[]).map((row) => row.name);

/** Reverts the latest migrations, `name` the last of them. */
async function revertThrough(dataSource: DataSource, name: string): Promise<void> {
  while ((await executedMigrations(dataSource)).includes(name)) await dataSource.undoLastMigration();
}

// Instances of a deployment start together, on a database the new version has not migrated yet.
describe('migrations at start-up', () => {
  const templateUrl = process.env.TEST_TEMPLATE_DATABASE_URL!;
  const name = `meander_migrate_${randomBytes(6).toString('hex')}`;

  beforeAll(() => emptyDatabase(templateUrl, name));
  afterAll(() => dropDatabase(templateUrl, name));

  it('a migration that fails inside a transaction of its own: its error is the one reported, and the lock is free again', async () => {
    const name = `meander_migrate_failing_${randomBytes(6).toString('hex')}`;
    await emptyDatabase(templateUrl, name);
    class FailsInItsOwnTransaction1700000000000 implements MigrationInterface {
      async up(runner: QueryRunner): Promise<void> {
        await runner.query('BEGIN');
        await runner.query('SELECT 1 / 0');
      }
      async down(): Promise<void> {}
    }
    const dataSource = await new MeanderDataSource({ ...dataSourceOptions(urlOf(templateUrl, name), 1), migrations: [FailsInItsOwnTransaction1700000000000] }).initialize();
    try {
      await expect(dataSource.runMigrations({ transaction: 'none' })).rejects.toThrow('division by zero');
      const locks = await dataSource.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = ${0x4d4d} AND objid = 0`);
      expect(locks).toEqual([{ n: 0 }]);
    } finally {
      await dataSource.destroy();
      await dropDatabase(templateUrl, name);
    }
  });

  // The schema of a database migrated up to, not including, the latest migration: what its `down` must leave.
  let beforeLatest: Promise<string> | undefined;
  const schemaBeforeLatest = () =>
    (beforeLatest ??= (async () => {
      const name = `meander_migrate_before_latest_${randomBytes(6).toString('hex')}`;
      await emptyDatabase(templateUrl, name);
      const dataSource = await new MeanderDataSource({ ...dataSourceOptions(urlOf(templateUrl, name), 1), migrations: MIGRATIONS.slice(0, -1) }).initialize();
      try {
        await dataSource.runMigrations();
        return await schemaSnapshot(dataSource);
      } finally {
        await dataSource.destroy();
        await dropDatabase(templateUrl, name);
      }
    })());

  // `npm run migration:revert` (the CLI passes the configured mode, 'each'), on an up-to-date database:
  // `down` leaves the schema the migrations before it build, and `up` again the one it built.
  it.each([['each'], [undefined]] as const)('the latest migration reverts and runs again, in its own transaction mode (mode %s)', async (transaction) => {
    const name = `meander_migrate_revert_${randomBytes(6).toString('hex')}`;
    await copyOfTemplate(templateUrl, name);
    const dataSource = await new MeanderDataSource(dataSourceOptions(urlOf(templateUrl, name), 1)).initialize();
    try {
      const latest = MIGRATIONS[MIGRATIONS.length - 1].name;
      const executed = () => executedMigrations(dataSource);
      const migrated = await schemaSnapshot(dataSource);
      expect((await executed()).at(-1)).toBe(latest);
      await dataSource.undoLastMigration({ transaction });
      expect(await executed()).not.toContain(latest);
      expect(await schemaSnapshot(dataSource)).toBe(await schemaBeforeLatest());
      expect((await dataSource.runMigrations({ transaction })).map((migration) => migration.name)).toEqual([latest]);
      expect((await executed()).at(-1)).toBe(latest);
      expect(await schemaSnapshot(dataSource)).toBe(migrated);
      const locks = await dataSource.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = ${0x4d4d} AND objid = 0`);
      expect(locks).toEqual([{ n: 0 }]);
    } finally {
      await dataSource.destroy();
      await dropDatabase(templateUrl, name);
    }
  });

  it('settled_at: runs whose delivery had ended before the column count as settled at the upgrade; the rest stay null', async () => {
    const name = `meander_migrate_settled_${randomBytes(6).toString('hex')}`;
    await copyOfTemplate(templateUrl, name);
    const dataSource = await new MeanderDataSource(dataSourceOptions(urlOf(templateUrl, name), 1)).initialize();
    try {
      await revertThrough(dataSource, 'ExportRunSettledAt1763800000014');
      const [config] = await dataSource.query(
        `INSERT INTO integration_configs (organization_id, integration_type, display_name, created_by) VALUES (gen_random_uuid(), 'xledger', 'X', gen_random_uuid()) RETURNING id, organization_id`,
      );
      const statuses = ['completed', 'queued', 'delivering', 'delivered', 'partially_delivered', 'failed'];
      for (const status of statuses) {
        await dataSource.query(
          `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by)
           VALUES ($1, $2, $3, now() - interval '100 days', now() - interval '100 days', 0, 0, '[]', '{}', gen_random_uuid())`,
          [config.organization_id, config.id, status],
        );
      }
      await dataSource.runMigrations();
      const rows = (await dataSource.query(`SELECT status, settled_at IS NOT NULL AS settled FROM export_runs ORDER BY seq`)) as { status: string; settled: boolean }[];
      expect(rows).toEqual(statuses.map((status) => ({ status, settled: ['delivered', 'partially_delivered', 'failed'].includes(status) })));
    } finally {
      await dataSource.destroy();
      await dropDatabase(templateUrl, name);
    }
  });

  describe('org-consistent foreign keys (1763800000015)', () => {
    const migration = 'OrgConsistentForeignKeys1763800000015';

    /** `work` on a copy of the migrated database reverted to before the migration, given the copy's schema as migrated. */
    async function beforeTheMigration(work: (dataSource: DataSource, migrated: string, url: string) => Promise<void>): Promise<void> {
      const name = `meander_migrate_org_fks_${randomBytes(6).toString('hex')}`;
      await copyOfTemplate(templateUrl, name);
      const dataSource = await new MeanderDataSource(dataSourceOptions(urlOf(templateUrl, name), 1)).initialize();
      try {
        const migrated = await schemaSnapshot(dataSource);
        await revertThrough(dataSource, migration);
        await work(dataSource, migrated, urlOf(templateUrl, name));
      } finally {
        await dataSource.destroy();
        await dropDatabase(templateUrl, name);
      }
    }

    it("rows already pointing at another organization's parent stop it, their tables named, before it changes anything", () =>
      beforeTheMigration(async (dataSource, migrated) => {
        const reverted = await schemaSnapshot(dataSource);
        const [orgA, orgB] = [randomUUID(), randomUUID()];
        const [config] = await dataSource.query(
          `INSERT INTO integration_configs (organization_id, integration_type, display_name, created_by) VALUES ($1, 'xledger', 'X', gen_random_uuid()) RETURNING id`,
          [orgA],
        );
        const [mapping] = await dataSource.query(
          `INSERT INTO field_mappings (organization_id, integration_id, source_field, target_field, transform_type, display_label, sort_order, lineage_id)
           VALUES ($1, $2, 'expense_amount', 'Amount', 'direct', 'Amount', 0, gen_random_uuid()) RETURNING id`,
          [orgB, config.id],
        );
        const [run] = await dataSource.query(
          `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by)
           VALUES ($1, $2, 'queued', now(), now(), 1, 0, '[]', '{}', gen_random_uuid()) RETURNING id`,
          [orgA, config.id],
        );
        await dataSource.query(`INSERT INTO export_run_rows (export_run_id, index, organization_id, status) VALUES ($1, 0, $2, 'pending'), ($1, 1, $3, 'pending')`, [
          run.id,
          orgB,
          orgA,
        ]);

        const refused = await dataSource.runMigrations().catch((error: Error) => error);
        expect(refused).toBeInstanceOf(Error);
        expect((refused as Error).message).toContain(`field_mappings.integration_id → integration_configs: 1 row(s), e.g. ${mapping.id}`);
        expect((refused as Error).message).toContain(`export_run_rows.export_run_id → export_runs: 1 row(s), e.g. ${run.id}/0`);
        expect((refused as Error).message).not.toContain('sync_runs');
        // Nothing changed, nothing deleted.
        expect(await executedMigrations(dataSource)).not.toContain(migration);
        expect(await schemaSnapshot(dataSource)).toBe(reverted);
        const [{ n }] = await dataSource.query(`SELECT (SELECT count(*) FROM field_mappings) + (SELECT count(*) FROM export_run_rows) AS n`);
        expect(Number(n)).toBe(3);

        // Put right, it runs.
        await dataSource.query(`UPDATE field_mappings SET organization_id = $1 WHERE id = $2`, [orgA, mapping.id]);
        await dataSource.query(`DELETE FROM export_run_rows WHERE organization_id = $1`, [orgB]);
        await dataSource.runMigrations();
        expect(await executedMigrations(dataSource)).toContain(migration);
        expect(await schemaSnapshot(dataSource)).toBe(migrated);
      }));

    // Outside a transaction, a run stopped half way (a lost connection, a deploy killed) leaves some steps done.
    it('a run cut short runs again to the same schema', () =>
      beforeTheMigration(async (dataSource, migrated) => {
        await dataSource.query(`CREATE UNIQUE INDEX uq_integration_configs_org_id ON integration_configs (organization_id, id)`);
        await dataSource.query(`ALTER TABLE integration_configs ADD CONSTRAINT uq_integration_configs_org_id UNIQUE USING INDEX uq_integration_configs_org_id`);
        await dataSource.query(`CREATE UNIQUE INDEX uq_field_mappings_org_id ON field_mappings (organization_id, id)`);
        await dataSource.query(`DROP INDEX idx_integration_configs_org_id`);
        await dataSource.query(`ALTER TABLE sync_runs DROP CONSTRAINT fk_sync_runs_integration,
          ADD CONSTRAINT fk_sync_runs_integration FOREIGN KEY (organization_id, integration_id) REFERENCES integration_configs (organization_id, id) ON DELETE CASCADE NOT VALID`);
        await dataSource.runMigrations();
        expect(await schemaSnapshot(dataSource)).toBe(migrated);
      }));

    // A deploy's old instances still work while it runs: a swap waiting for a long transaction's lock
    // would hold up every statement queued behind it on that table until that transaction ends.
    it("gives way to a long transaction: a reader queued behind its swap waits one try's lock timeout, not for that transaction", () =>
      beforeTheMigration(async (dataSource, migrated, url) => {
        const [holder, reader] = [new Client({ connectionString: url }), new Client({ connectionString: url })];
        await Promise.all([holder.connect(), reader.connect()]);
        try {
          await holder.query(`BEGIN`);
          await holder.query(`SELECT count(*) FROM sync_runs`);
          const migrating = dataSource.runMigrations().then(
            () => undefined,
            (error: Error) => error,
          );
          const swapWaits = async () =>
            (await reader.query(`SELECT 1 FROM pg_locks WHERE relation = 'sync_runs'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted`)).rowCount! > 0;
          for (let waited = 0; !(await swapWaits()); waited += 20) {
            if (waited > 20_000) throw new Error('the migration never waited for the lock on sync_runs');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          // Without the timeout the reader would wait for the holder, for ever here: its own timeout says so.
          await reader.query(`SET statement_timeout = ${LOCK_TIMEOUT_MS * 4}`);
          const started = Date.now();
          await reader.query(`SELECT count(*) FROM sync_runs`);
          expect(Date.now() - started).toBeLessThan(LOCK_TIMEOUT_MS * 2);
          await holder.query(`COMMIT`);
          expect(await migrating).toBeUndefined();
          expect(await schemaSnapshot(dataSource)).toBe(migrated);
        } finally {
          await Promise.all([holder.end(), reader.end()]);
        }
      }));
  });

  it('instances started together on an empty database migrate it one at a time: all start, none logs an error, each migration runs once', async () => {
    const url = urlOf(templateUrl, name);
    const logs: string[] = [];
    const started = await Promise.allSettled(
      Array.from({ length: 4 }, () =>
        createApp({
          config: testConfig({ DATABASE_URL: url, DATABASE_POOL_SIZE: '2', LOG_LEVEL: 'warn' }),
          logStream: { write: (line: string) => void logs.push(line) },
        }),
      ),
    );
    const apps = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      expect(started.map((s) => s.status)).toEqual(Array(4).fill('fulfilled'));
      // TypeORM takes no lock of its own: its connection retries would have hidden a failed race, but logged it.
      expect(logs).toEqual([]);
      const db = new Client({ connectionString: url });
      await db.connect();
      try {
        const { rows } = await db.query<{ name: string; runs: number }>(`SELECT name, count(*)::int AS runs FROM migrations GROUP BY name`);
        const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
        expect(rows.sort(byName)).toEqual(MIGRATIONS.map((migration) => ({ name: migration.name, runs: 1 })).sort(byName));
      } finally {
        await db.end();
      }
    } finally {
      await Promise.all(apps.map((app: NestFastifyApplication) => app.close()));
    }
  });
});
