import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataSourceOptions } from '../../src/database/data-source-options';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/database/embedded-postgres';
import { MeanderDataSource } from '../../src/database/meander-data-source';
import { copyOfTemplate, databaseOf, dropDatabase } from './template-database';

declare global {
  var __EMBEDDED_POSTGRES__: EmbeddedPostgres | undefined;
}

/**
 * One server for the whole run: the embedded PostgreSQL in a fresh directory, or the server in
 * DATABASE_URL (CI gives a fresh database; its role needs CREATEDB and to own it). Its database is migrated here and is the template
 * each suite's own database is copied from (test/support/suite-database.ts).
 */
export default async function globalSetup(): Promise<void> {
  let url = process.env.DATABASE_URL;
  if (!url) {
    const dataDir = mkdtempSync(join(tmpdir(), 'meander-test-'));
    globalThis.__EMBEDDED_POSTGRES__ = await startEmbeddedPostgres({ dataDir, maxConnections: 40 });
    url = globalThis.__EMBEDDED_POSTGRES__.url;
    process.env.TEST_DATA_DIR = dataDir;
  }
  process.env.TEST_TEMPLATE_DATABASE_URL = url;
  process.env.TEST_DATABASE_URL = url;
  const dataSource = new MeanderDataSource(dataSourceOptions(url, 2));
  try {
    await dataSource.initialize();
    await dataSource.runMigrations();
    await dataSource.destroy();
    // Once here, in one line, rather than in every suite: the copies each suite works on can be made.
    const probe = `meander_suite_probe_${process.pid}`;
    await copyOfTemplate(url, probe).catch((error: Error) => {
      throw new Error(`the e2e suites work on copies of ${databaseOf(url)} (CREATE DATABASE … TEMPLATE): ${error.message}; the role needs CREATEDB and to own that database`);
    });
    await dropDatabase(url, probe);
  } catch (error) {
    // jest skips globalTeardown when globalSetup fails: stop what was started here.
    await globalThis.__EMBEDDED_POSTGRES__?.stop();
    throw error;
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
  }
}
