// The data source the TypeORM CLI uses (npm run migration:run / migration:generate).
// Same configuration as the service: DATABASE_URL, or the embedded PostgreSQL in DATA_DIR.
import { DataSource } from 'typeorm';
import { openDataSourceForCli } from './src/database/cli-data-source';

export default openDataSourceForCli() satisfies Promise<DataSource>;
