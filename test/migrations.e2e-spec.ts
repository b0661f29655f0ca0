import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { MIGRATIONS } from '../src/database/migrations';
import { testConfig } from './support/test-app';
import { dropDatabase, emptyDatabase, urlOf } from './support/template-database';

jest.setTimeout(60_000);

// Instances of a deployment start together, on a database the new version has not migrated yet.
describe('migrations at start-up', () => {
  const templateUrl = process.env.TEST_TEMPLATE_DATABASE_URL!;
  const name = `meander_migrate_${randomBytes(6).toString('hex')}`;

  beforeAll(() => emptyDatabase(templateUrl, name));
  afterAll(() => dropDatabase(templateUrl, name));

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
