import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Page, PageQueryDto } from '../common/pagination';
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

  listPage(orgId: string, integrationId: string, page: PageQueryDto): Promise<Page<SyncRunEntity>> {
    return this.keysetPage(SyncRunEntity, { organization_id: orgId, integration_id: integrationId }, page, { key: 'seq', order: 'DESC' });
  }
}
