import type { DataSource } from 'typeorm';
import { loadAppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { runningEmbeddedUrl, startEmbeddedPostgres } from './embedded-postgres';
import { MeanderDataSource } from './meander-data-source';

/**
 * A DataSource for CLI tools (TypeORM migrations, keys:rotate): on DATABASE_URL, on the embedded
 * server of a service running from DATA_DIR, or on the embedded PostgreSQL started here and
 * stopped when the data source is destroyed.
 */
export async function openDataSourceForCli(): Promise<DataSource> {
  const config = loadAppConfig();
  if (config.databaseUrl) return new MeanderDataSource(dataSourceOptions(config.databaseUrl, 2));
  // The service is running on the embedded database: use its server, online.
  const running = runningEmbeddedUrl(config.dataDir);
  if (running) return new MeanderDataSource(dataSourceOptions(running, 1));
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, maxConnections: 2 });
  const dataSource = new MeanderDataSource(dataSourceOptions(embedded.url, 2));
  const destroy = dataSource.destroy.bind(dataSource);
  dataSource.destroy = async () => {
    await destroy();
    await embedded.stop();
  };
  return dataSource;
}
