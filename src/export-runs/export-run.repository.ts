import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import type { Keyset, KeysetPage } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import type { ScheduledConfig } from '../job-queue/job-queue';
import { ExportRunEntity, type ExportRunStatus } from './export-run.entity';

export type DeliverableRun = Pick<
  ExportRunEntity,
  'id' | 'organization_id' | 'integration_id' | 'status' | 'created_by' | 'delivery_attempts' | 'delivered_count' | 'next_attempt_at'
>;

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

  /** Whether the run exists, without reading its stored result (up to 16 MiB): each page of its rows asks. */
  existsByOrgAndId(orgId: string, integrationId: string, id: string): Promise<boolean> {
    return this.repository(ExportRunEntity).exists({ where: { organization_id: orgId, integration_id: integrationId, id } });
  }

  /** The config's runs waiting for delivery (or caught mid-delivery by a lost worker), oldest first; not their stored result (the rows are in export_run_rows). */
  listDeliverable(orgId: string, integrationId: string): Promise<DeliverableRun[]> {
    return this.repository(ExportRunEntity).find({
      select: { id: true, organization_id: true, integration_id: true, status: true, created_by: true, delivery_attempts: true, delivered_count: true, next_attempt_at: true },
      where: { organization_id: orgId, integration_id: integrationId, status: In(['queued', 'delivering']) },
      order: { seq: 'ASC' },
    });
  }

  /** Runs waiting for delivery, or caught mid-delivery by a lost worker. */
  countDeliverable(orgId: string, integrationId: string): Promise<number> {
    return this.repository(ExportRunEntity).count({ where: { organization_id: orgId, integration_id: integrationId, status: In(['queued', 'delivering']) } });
  }

  /**
   * Every enabled, unpaused config with runs waiting for delivery, with its schedule and its runs'
   * soonest retry: the delivery sweep's list, across organizations (it works for all of them).
   */
  listConfigsWithDeliverableRuns(): Promise<(ScheduledConfig & { retry_at: Date | null })[]> {
    return this.rows(CONFIGS_WITH_DELIVERABLE_RUNS, []);
  }

  /** How many of the config's runs wait for delivery, and when the soonest of their retries is due (as the sweep reads it; null: none). */
  async waitingRuns(orgId: string, integrationId: string): Promise<{ count: number; retry_at: Date | null }> {
    const [row] = await this.rows<{ count: number; retry_at: Date | null }>(
      `SELECT count(*)::int AS count, ${RETRY_AT} AS retry_at FROM export_runs r WHERE r.organization_id = $1 AND r.integration_id = $2 AND r.status IN ('queued', 'delivering')`,
      [orgId, integrationId],
    );
    return row;
  }

  /** POST …/sync: the config's queued runs waiting out the engine's backoff are due now (the admin asked); the system's own Retry-After still holds. */
  async clearRetryWaits(orgId: string, integrationId: string): Promise<void> {
    await this.rows(
      `UPDATE export_runs SET next_attempt_at = CASE WHEN not_before > now() THEN not_before END
       WHERE organization_id = $1 AND integration_id = $2 AND status = 'queued' AND next_attempt_at IS NOT NULL`,
      [orgId, integrationId],
    );
  }

  async updateDelivery(
    orgId: string,
    id: string,
    changes: Partial<
      Pick<ExportRunEntity, 'delivery_attempts' | 'delivered_count' | 'failed_count' | 'next_attempt_at' | 'not_before' | 'last_error' | 'finished_at' | 'settled_at'>
    > & {
      status?: ExportRunStatus;
    },
  ): Promise<void> {
    await this.updateRows(ExportRunEntity, { organization_id: orgId, id }, changes);
  }

  /** Summaries newest first: every column but the stored result. */
  listPage(orgId: string, integrationId: string, keyset: Keyset): Promise<KeysetPage<Omit<ExportRunEntity, 'result'>>> {
    return this.keysetPage(ExportRunEntity, { organization_id: orgId, integration_id: integrationId }, keyset, {
      key: 'seq',
      order: 'DESC',
      select: {
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
        delivery_attempts: true,
        delivered_count: true,
        failed_count: true,
        next_attempt_at: true,
        last_error: true,
      },
    });
  }
}

/** The soonest retry of waiting runs `r`: a run left `delivering` (its worker lost, its job given up) is due now, whatever the schedule. */
const RETRY_AT = `min(CASE WHEN r.status = 'delivering' THEN now() ELSE r.next_attempt_at END)`;

/** The sweep's look; read through the partial index of waiting runs (idx_export_runs_deliverable). Exported for the spec that EXPLAINs it. */
export const CONFIGS_WITH_DELIVERABLE_RUNS = `SELECT c.organization_id, c.id, c.sync_frequency, c.extra_config, ${RETRY_AT} AS retry_at
  FROM export_runs r JOIN integration_configs c ON c.organization_id = r.organization_id AND c.id = r.integration_id
  WHERE r.status IN ('queued', 'delivering') AND c.enabled AND NOT c.paused
  GROUP BY c.organization_id, c.id`;
