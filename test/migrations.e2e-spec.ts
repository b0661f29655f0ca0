import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { createApp } from '../src/app.factory';
import { dataSourceOptions } from '../src/database/data-source-options';
import { MeanderDataSource } from '../src/database/meander-data-source';
import { MIGRATIONS } from '../src/database/migrations';
import { schemaSnapshot } from './support/schema-snapshot';
import { testConfig } from './support/test-app';
import { copyOfTemplate, dropDatabase, emptyDatabase, urlOf } from './support/template-database';

jest.setTimeout(60_000);

const executedMigrations = async (dataSource: DataSource) => ((await dataSource.query(`SELECT name FROM migrations ORDER BY id`)) as { name: string }[]).map((row) => row.name);

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
      expect(MIGRATIONS.at(-1)!.name).toBe('ExportRunSettledAt1763800000014');
      await dataSource.undoLastMigration();
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
