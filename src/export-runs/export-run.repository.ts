import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Page, PageQueryDto } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { ExportRunEntity } from './export-run.entity';

/** export_runs: each export and its stored result. */
@Injectable()
export class ExportRunRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  insert(run: ExportRunEntity): Promise<void> {
    return this.insertRows(ExportRunEntity, run);
  }

  findByOrgAndId(orgId: string, integrationId: string, id: string): Promise<ExportRunEntity | null> {
    return this.repository(ExportRunEntity).findOne({ where: { organization_id: orgId, integration_id: integrationId, id } });
  }

  /** Summaries newest first: every column but the stored result. */
  listPage(orgId: string, integrationId: string, page: PageQueryDto): Promise<Page<Omit<ExportRunEntity, 'result'>>> {
    return this.newestFirst(ExportRunEntity, { organization_id: orgId, integration_id: integrationId }, page, {
      seq: true,
      id: true,
      integration_id: true,
      status: true,
      started_at: true,
      finished_at: true,
      row_count: true,
      skipped_count: true,
      mappings_used: true,
      created_by: true,
    });
  }
}
