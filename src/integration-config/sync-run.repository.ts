import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Keyset, KeysetPage } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { SyncRunEntity } from './sync-run.entity';

/** sync_runs: recorded sync attempts, newest first by insertion order. */
@Injectable()
export class SyncRunRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  async insert(run: SyncRunEntity): Promise<void> {
    await this.insertRows(SyncRunEntity, run);
  }

  findByOrgAndId(orgId: string, id: string): Promise<SyncRunEntity | null> {
    return this.repository(SyncRunEntity).findOneBy({ organization_id: orgId, id });
  }

  /** The error of the config's latest sync run whose error is none of `ignored` (null: that run succeeded, or there is none). */
  async latestErrorExcept(orgId: string, integrationId: string, ignored: readonly string[]): Promise<string | null> {
    const [latest] = await this.rows<{ error: string | null }>(
      `SELECT error FROM sync_runs WHERE organization_id = $1 AND integration_id = $2 AND NOT (coalesce(error, '') = ANY($3)) ORDER BY seq DESC LIMIT 1`,
      [orgId, integrationId, ignored],
    );
    return latest?.error ?? null;
  }

  listPage(orgId: string, integrationId: string, keyset: Keyset): Promise<KeysetPage<SyncRunEntity>> {
    return this.keysetPage(SyncRunEntity, { organization_id: orgId, integration_id: integrationId }, keyset, { key: 'seq', order: 'DESC' });
  }
}
