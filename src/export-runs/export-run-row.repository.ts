import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan } from 'typeorm';
import type { Page, PageQueryDto } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import type { RowOutcome } from '../sync/connector';
import { ExportRunRowEntity } from './export-run.entity';

/** export_run_rows: each row of a run queued for delivery, and where its delivery stands. */
@Injectable()
export class ExportRunRowRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  insert(rows: ExportRunRowEntity[]): Promise<void> {
    return rows.length > 0 ? this.insertRows(ExportRunRowEntity, rows) : Promise.resolve();
  }

  /** The next `limit` rows still to deliver after `afterIndex`, in order (a batch at a time: a run may hold many). */
  listPendingAfter(orgId: string, exportRunId: string, afterIndex: number, limit: number): Promise<Pick<ExportRunRowEntity, 'index' | 'output'>[]> {
    return this.repository(ExportRunRowEntity).find({
      select: { index: true, output: true },
      where: { organization_id: orgId, export_run_id: exportRunId, status: 'pending', index: MoreThan(afterIndex) },
      order: { index: 'ASC' },
      take: limit,
    });
  }

  /** How many of the run's rows are delivered and failed: the run's counts, whoever delivered them (a lost worker too). */
  async countOutcomes(orgId: string, exportRunId: string): Promise<{ delivered: number; failed: number }> {
    const [counts] = await this.rows<{ delivered: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status = 'delivered')::int AS delivered, count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM export_run_rows WHERE organization_id = $1 AND export_run_id = $2`,
      [orgId, exportRunId],
    );
    return counts;
  }

  /** Records what the external system answered for each row of a batch, in one statement. */
  async applyOutcomes(orgId: string, exportRunId: string, outcomes: RowOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const { sql, params } = applyOutcomesStatement(orgId, exportRunId, outcomes);
    await this.rows(sql, params);
  }

  /** The run's rows by index, a page at a time (the cursor is the last index seen). */
  listPage(orgId: string, exportRunId: string, page: PageQueryDto): Promise<Page<ExportRunRowEntity>> {
    return this.keysetPage(ExportRunRowEntity, { organization_id: orgId, export_run_id: exportRunId }, page, { key: 'index', order: 'ASC' });
  }
}

/**
 * The batch's outcomes as one UPDATE. Only a pending row takes an outcome; the check is a CASE,
 * not a WHERE condition, on purpose: pending rows are a sliver of a table with history, so the
 * planner, estimating one pending row in the run, put the run's rows on the outside of a nested
 * loop around the unnest and compared every row with every outcome (500 × 1,000 comparisons,
 * 200–500 ms a batch, seen on a database with 300,000 delivered rows). Without it the estimate is
 * the run's size and the join a hash join. Exported for the spec that EXPLAINs it.
 */
export function applyOutcomesStatement(orgId: string, exportRunId: string, outcomes: RowOutcome[]): { sql: string; params: unknown[] } {
  const sql = `UPDATE export_run_rows r
     SET status = CASE WHEN r.status = 'pending' THEN o.status ELSE r.status END,
         external_id = CASE WHEN r.status = 'pending' THEN o.external_id ELSE r.external_id END,
         error = CASE WHEN r.status = 'pending' THEN o.error ELSE r.error END
     FROM unnest($3::int[], $4::text[], $5::text[], $6::text[]) AS o(index, status, external_id, error)
     WHERE r.organization_id = $1 AND r.export_run_id = $2 AND r.index = o.index`;
  const params = [
    orgId,
    exportRunId,
    outcomes.map((o) => o.index),
    outcomes.map((o) => o.status),
    outcomes.map((o) => (o.status === 'delivered' ? o.externalId : null)),
    outcomes.map((o) => (o.status === 'failed' ? o.error : null)),
  ];
  return { sql, params };
}
