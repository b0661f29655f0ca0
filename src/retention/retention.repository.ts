import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';

/**
 * A delivered run (alias `e`) ages from when its delivery ended, not from its export (created_at,
 * the index's order: the few delivered late are passed over until their turn).
 */
const SETTLED_BEFORE = `(e.settled_at IS NULL OR e.settled_at < $1)`;

/**
 * Whether an export run (alias `e`) may go: its delivery is over (not `queued` nor `delivering`:
 * a worker may still read and update it and its rows), and it is not the first run that used a
 * mapping version still marked `used_in_export`, the record of the export that froze it.
 */
const PRUNABLE_RUN = `
  e.status NOT IN ('queued', 'delivering')
  AND NOT EXISTS (
    SELECT 1
    FROM jsonb_array_elements(e.mappings_used) AS used(item)
    JOIN field_mappings m ON m.organization_id = e.organization_id AND m.integration_id = e.integration_id AND m.id = (used.item->>'mapping_id')::uuid AND m.used_in_export
    WHERE NOT EXISTS (
      SELECT 1 FROM export_runs earlier
      WHERE earlier.organization_id = e.organization_id
        AND earlier.integration_id = e.integration_id
        AND earlier.mappings_used @> jsonb_build_array(jsonb_build_object('mapping_id', used.item->>'mapping_id'))
        AND earlier.seq < e.seq
    )
  )`;

/**
 * The retention job's DELETE statements. Each deletes at most `limit` rows older than `before`,
 * oldest first, in a statement (and so a transaction) of its own: it holds its rows' locks for
 * that batch only. `SKIP LOCKED` steps over rows another transaction holds (a concurrent run of
 * the job), rather than waiting for them. Across every organization: it is the service's own
 * maintenance, not a tenant's request; each answers how many rows it deleted.
 */
@Injectable()
export class RetentionRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  deleteWebhookEvents(before: Date, limit: number): Promise<number> {
    return this.deleteOldest('webhook_events', 'received_at', 'FOR UPDATE SKIP LOCKED', before, limit);
  }

  /** Sync runs are written once, when their attempt ends (src/sync/delivery.service.ts): none is updated later. */
  deleteSyncRuns(before: Date, limit: number): Promise<number> {
    return this.deleteOldest('sync_runs', 'created_at', 'FOR UPDATE SKIP LOCKED', before, limit);
  }

  /** The rows of prunable runs: first, a batch at a time, so deleting a run never cascades to a large number of rows. */
  deleteExportRunRows(before: Date, limit: number): Promise<number> {
    return this.deleted(
      `WITH doomed AS (
         SELECT r.export_run_id, r.index
         FROM export_runs e JOIN export_run_rows r ON r.export_run_id = e.id
         WHERE e.created_at < $1 AND ${SETTLED_BEFORE} AND ${PRUNABLE_RUN}
         ORDER BY e.created_at
         LIMIT $2
         FOR UPDATE OF r SKIP LOCKED
       ), deleted AS (
         DELETE FROM export_run_rows x USING doomed WHERE x.export_run_id = doomed.export_run_id AND x.index = doomed.index RETURNING 1
       )
       SELECT count(*)::int AS deleted FROM deleted`,
      before,
      limit,
    );
  }

  /** Prunable runs whose rows are gone (deleteExportRunRows goes first). */
  deleteExportRuns(before: Date, limit: number): Promise<number> {
    return this.deleted(
      `WITH doomed AS (
         SELECT e.id FROM export_runs e
         WHERE e.created_at < $1 AND ${SETTLED_BEFORE} AND ${PRUNABLE_RUN}
           AND NOT EXISTS (SELECT 1 FROM export_run_rows r WHERE r.export_run_id = e.id)
         ORDER BY e.created_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ), deleted AS (
         DELETE FROM export_runs x USING doomed WHERE x.id = doomed.id RETURNING 1
       )
       SELECT count(*)::int AS deleted FROM deleted`,
      before,
      limit,
    );
  }

  /**
   * Audit events: no `FOR UPDATE` (it needs the UPDATE privilege, which an append-only audit table
   * may well not grant); nothing else locks them. Refused (42501) when the operator revoked DELETE.
   */
  deleteAuditEvents(before: Date, limit: number): Promise<number> {
    return this.deleteOldest('audit_events', 'occurred_at', '', before, limit);
  }

  /** The oldest `limit` rows of a table keyed by `id`, older than `before` by `column`. */
  private deleteOldest(table: 'webhook_events' | 'sync_runs' | 'audit_events', column: string, lock: string, before: Date, limit: number): Promise<number> {
    return this.deleted(
      `WITH doomed AS (
         SELECT id FROM ${table} WHERE ${column} < $1 ORDER BY ${column} LIMIT $2 ${lock}
       ), deleted AS (
         DELETE FROM ${table} t USING doomed WHERE t.id = doomed.id RETURNING 1
       )
       SELECT count(*)::int AS deleted FROM deleted`,
      before,
      limit,
    );
  }

  private async deleted(sql: string, before: Date, limit: number): Promise<number> {
    const [row] = await this.rows<{ deleted: number }>(sql, [before, limit]);
    return row.deleted;
  }
}
