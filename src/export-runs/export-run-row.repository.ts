import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan } from 'typeorm';
import type { Keyset, KeysetPage } from '../common/pagination';
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

  /** How many of the run's rows are delivered, failed and still pending: the run's counts, whoever delivered them (a lost worker too). */
  async countOutcomes(orgId: string, exportRunId: string): Promise<{ delivered: number; failed: number; pending: number }> {
    const [counts] = await this.rows<{ delivered: number; failed: number; pending: number }>(
      `SELECT count(*) FILTER (WHERE status = 'delivered')::int AS delivered, count(*) FILTER (WHERE status = 'failed')::int AS failed,
              count(*) FILTER (WHERE status = 'pending')::int AS pending
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

  /** The run's rows by index, a page at a time (the next starts after the last index seen). */
  listPage(orgId: string, exportRunId: string, keyset: Keyset): Promise<KeysetPage<ExportRunRowEntity>> {
    return this.keysetPage(ExportRunRowEntity, { organization_id: orgId, export_run_id: exportRunId }, keyset, { key: 'index', order: 'ASC' });
  }
}

/**
 * The batch's outcomes as one UPDATE of the run's rows found by primary key (`index = ANY`); each
 * row takes its outcome from arrays laid out by index (position `index - first + 1`), so finding
 * it costs the same for every row: `array_position` searched the batch for each row (500 × 500
 * comparisons a column for an Xledger batch, about half the statement's time). Only a pending row
 * takes one. No join: a join of the rows with an unnest went wrong whenever the planner thought the
 * run had one matching row (statistics where pending rows are rare, or none yet on a new table):
 * it compared every row of the run with every outcome (30 ms for a batch of 100; 200–500 ms for 500
 * on a database with 300,000 delivered rows). A failed outcome always has its error, so a row with
 * an error is `failed` and one without is `delivered`; a batch without refusals (or without
 * external ids) sends NULL for that array. Exported for the spec that EXPLAINs it.
 */
export function applyOutcomesStatement(orgId: string, exportRunId: string, outcomes: RowOutcome[]): { sql: string; params: unknown[] } {
  const first = Math.min(...outcomes.map((o) => o.index));
  const span = Math.max(...outcomes.map((o) => o.index)) - first + 1;
  let externalIds: (string | null)[] | null = null;
  let errors: (string | null)[] | null = null;
  for (const o of outcomes) {
    if (o.status === 'delivered' && o.externalId !== null) (externalIds ??= new Array<string | null>(span).fill(null))[o.index - first] = o.externalId;
    if (o.status === 'failed') (errors ??= new Array<string | null>(span).fill(null))[o.index - first] = o.error;
  }
  const at = 'r.index - $4::int + 1';
  const sql = `UPDATE export_run_rows r
     SET status = CASE WHEN ($6::text[])[${at}] IS NULL THEN 'delivered' ELSE 'failed' END,
         external_id = ($5::text[])[${at}], error = ($6::text[])[${at}]
     WHERE r.organization_id = $1 AND r.export_run_id = $2 AND r.index = ANY($3::int[]) AND r.status = 'pending'`;
  // Whole numbers as an array literal: no per-element quoting by the driver.
  return { sql, params: [orgId, exportRunId, `{${outcomes.map((o) => o.index).join(',')}}`, first, externalIds, errors] };
}
