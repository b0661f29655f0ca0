import { Module } from '@nestjs/common';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { MeanderDataSource } from './meander-data-source';

/**
 * The module's own named data source: a host application keeps its default TypeORM data source
 * (and its own entities and migrations) beside it.
 */
export const MEANDER_DATA_SOURCE = 'meander';

/** Injects the module's data source (`DataSource` alone would be the host's default one). */
export const InjectMeanderDataSource = (): ParameterDecorator => InjectDataSource(MEANDER_DATA_SOURCE);

/**
 * TypeORM on PostgreSQL. The URL is the configured server, or the embedded one that the
 * bootstrap started (it lives outside Nest so it can outlive the pool on shutdown).
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      name: MEANDER_DATA_SOURCE,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        if (!config.databaseUrl)
          throw new Error('no database URL: set DATABASE_URL (the standalone service starts an embedded PostgreSQL without it; a host application gives its own)');
        return { ...dataSourceOptions(config.databaseUrl, config.databasePoolSize), migrationsRun: true, retryAttempts: 3, retryDelay: 500 };
      },
      // Its migrations at start-up run one instance at a time (Nest initializes it, with retries).
      dataSourceFactory: async (options) => new MeanderDataSource(options!),
    }),
  ],
})
export class DatabaseModule {}
