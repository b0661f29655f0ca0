import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source-options';
import { schemaSnapshot } from './support/schema-snapshot';

const SNAPSHOT_FILE = join(__dirname, 'schema.snapshot.sql');

// The migrations write the schema; the entities describe it. When they disagree,
// `npm run migration:generate` would emit a migration that silently drops constraints: this
// fails first. (The same comparison the generator runs.)
describe('schema drift between migrations and entities', () => {
  let dataSource: DataSource;
  beforeAll(async () => (dataSource = await new DataSource(dataSourceOptions(process.env.TEST_DATABASE_URL!, 1)).initialize()));
  afterAll(() => dataSource.destroy());

  it('finds nothing to generate on the migrated database', async () => {
    const pending = await dataSource.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  // TypeORM matches foreign keys and unique constraints by name alone: an entity declaring
  // fk_sync_runs_integration on (integration_id) would pass the diff above against the database's
  // (organization_id, integration_id). Their columns are compared here.
  it("declares each foreign key and unique constraint on the database's columns", async () => {
    const declared = dataSource.entityMetadatas
      .flatMap((entity) => [
        ...entity.foreignKeys.map(
          (fk) => `${entity.tableName} ${fk.name} FOREIGN KEY (${fk.columnNames.join(', ')}) REFERENCES ${fk.referencedTablePath}(${fk.referencedColumnNames.join(', ')})`,
        ),
        ...entity.uniques.map((unique) => `${entity.tableName} ${unique.name} UNIQUE (${unique.columns.map((column) => column.databaseName).join(', ')})`),
      ])
      .sort();
    const actual = (
      (await dataSource.query(`
      SELECT c.relname || ' ' || k.conname || ' ' || regexp_replace(pg_get_constraintdef(k.oid), ' ON (DELETE|UPDATE) .*$', '') AS line
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
      WHERE c.relnamespace = 'public'::regnamespace AND k.contype IN ('f', 'u') AND c.relname <> 'migrations'`)) as { line: string }[]
    )
      .map((row) => row.line)
      .sort();
    expect(declared).toEqual(actual);
  });
});

// Everything else TypeORM's diff does not see (CHECK bodies, partial and expression indexes,
// triggers, defaults, foreign keys' actions): the schema as a whole, against the committed file.
// After a deliberate change, regenerate it: UPDATE_SCHEMA_SNAPSHOT=1 npx jest test/schema-drift.e2e-spec.ts
describe('the schema the migrations build', () => {
  it('is test/schema.snapshot.sql', async () => {
    const dataSource = await new DataSource(dataSourceOptions(process.env.TEST_DATABASE_URL!, 1)).initialize();
    try {
      const actual = await schemaSnapshot(dataSource);
      if (process.env.UPDATE_SCHEMA_SNAPSHOT === '1') writeFileSync(SNAPSHOT_FILE, actual);
      expect(actual).toBe(readFileSync(SNAPSHOT_FILE, 'utf8'));
    } finally {
      await dataSource.destroy();
    }
  });
});
