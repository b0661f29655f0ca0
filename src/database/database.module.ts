import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';

/**
 * TypeORM on PostgreSQL. The URL is the configured server, or the embedded one that the
 * bootstrap started (it lives outside Nest so it can outlive the pool on shutdown).
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        if (!config.databaseUrl) throw new Error('no database URL: start the embedded PostgreSQL first');
        return { ...dataSourceOptions(config.databaseUrl, config.databasePoolSize), migrationsRun: true, retryAttempts: 3, retryDelay: 500 };
      },
    }),
  ],
})
export class DatabaseModule {}
