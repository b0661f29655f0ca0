import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { IntegrationTypeRegistry } from './integration-type.registry';
import { InjectMeanderDataSource } from '../database/database.module';

/**
 * Mirrors the registry's type names into the `integration_types` table, which
 * `integration_configs.integration_type` references: the database itself refuses an unknown
 * type, while importing services can still register new ones.
 */
@Injectable()
export class IntegrationTypesSync implements OnApplicationBootstrap {
  constructor(
    private readonly registry: IntegrationTypeRegistry,
    @InjectMeanderDataSource() private readonly dataSource: DataSource,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const names = this.registry.names();
    await this.dataSource.query(`INSERT INTO integration_types (integration_type) SELECT unnest($1::text[]) ON CONFLICT (integration_type) DO NOTHING`, [names]);
  }
}
