import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source-options';

// The migrations write the schema; the entities describe it. When they disagree,
// `npm run migration:generate` would emit a migration that silently drops constraints: this
// fails first. (The same comparison the generator runs.)
describe('schema drift between migrations and entities', () => {
  it('finds nothing to generate on the migrated database', async () => {
    const dataSource = await new DataSource(dataSourceOptions(process.env.TEST_DATABASE_URL!, 1)).initialize();
    try {
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await dataSource.destroy();
    }
  });
});
