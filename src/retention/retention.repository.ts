import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectMeanderDataSource } from '../database/database.module';
import { queryRows } from '../database/pool-query';
import { TableRepository } from '../database/table-repository';

/**
 * An export run (alias `e`) old enough: exported before `$before`, and a delivered run's delivery
 * ended before it too (settled_at; the few delivered late wait for their turn).
 */
const OLD_ENOUGH = (before: string) => `e.created_at < ${before} AND (e.settled_at IS NULL OR e.settled_at < ${before})`;

/** Its delivery is over: not `queued` nor `delivering`, when a worker may still read and update it and its rows. */
const DELIVERY_OVER = `e.status NOT IN ('queued', 'delivering')`;

/**
 * The run (alias `e`) is the first run that used a mapping version still marked `used_in_export`:
 * the record of the export that froze it, kept with its rows. Found walking the config's runs back
 * from it by seq (idx_export_runs_integration_seq), a few runs each: first the run just before it,
 * which on a backlog used the same versions (each export of a config uses the same ones until one
 * changes); only when that one did not, for each version the nearest earlier run that used it or
 * the version it replaced (previous_version_id): a config's runs use a mapping's versions one after
 * the other (a new version and an export both take the config's lock, and a replaced version is
 * used no more), so a run of the version before means no earlier run used this one. The walk thus
 * stops at the run before, not at the config's first run past every run kept since (the first
 * runs of all other versions). Had a run of the version before come later, the run would only be
 * kept, never deleted wrongly.
 * `jsonb_path_exists`, not `@>`: the GIN index on mappings_used serves `@>` with every run that
 * used the version (thousands: all of a config's exports until a mapping changes), which the
 * planner took for a few and read for each version of each run.
 */
const FIRST_RUN_OF_A_VERSION = `CASE
    WHEN (
      SELECT previous.mappings_used FROM export_runs previous
      WHERE previous.organization_id = e.organization_id AND previous.integration_id = e.integration_id AND previous.seq < e.seq
      ORDER BY previous.seq DESC
      LIMIT 1
    ) @> e.mappings_used THEN false
    ELSE EXISTS (
      SELECT 1
      FROM jsonb_array_elements(e.mappings_used) AS used(item)
      CROSS JOIN LATERAL (
        SELECT jsonb_build_object('id', used.item->'mapping_id', 'replaced', m.previous_version_id) AS ids
        FROM field_mappings m
        WHERE m.organization_id = e.organization_id AND m.integration_id = e.integration_id AND m.id = (used.item->>'mapping_id')::uuid AND m.used_in_export
        LIMIT 1
      ) version
      WHERE (
        SELECT jsonb_path_exists(nearest.mappings_used, '$[*] ? (@.mapping_id == $id)', version.ids)
        FROM (
          SELECT earlier.mappings_used FROM export_runs earlier
          WHERE earlier.organization_id = e.organization_id AND earlier.integration_id = e.integration_id AND earlier.seq < e.seq
            AND jsonb_path_exists(earlier.mappings_used, '$[*] ? (@.mapping_id == $id || @.mapping_id == $replaced)', version.ids)
          ORDER BY earlier.seq DESC
          LIMIT 1
        ) nearest
      ) IS NOT TRUE
    )
  END`;

/**
 * Where a window of export runs ends, in their order (created_at, id): created_at as text, to the
 * microsecond (a Date keeps milliseconds: the next window would start again among the runs of this
 * one's last millisecond).
 */
export interface ExportRunPosition {
  createdAt: string;
  id: string;
}

/** The export runs of one window, oldest first: those that may go, how many were looked at, and where the next window starts. */
export interface ExportRunWindow {
  prunable: string[];
  scanned: number;
  last: ExportRunPosition | null;
}

/** Before every export run. */
const FIRST_POSITION: ExportRunPosition = { createdAt: '-infinity', id: '00000000-0000-0000-0000-000000000000' };

/**
 * The next `$2` export runs exported before `$1` after the position ($3, $4), oldest first, each
 * with whether it may go now: its delivery over, old enough, and not the first run of a mapping
 * version still used_in_export. Reads those runs through idx_export_runs_created_at and no others
 * (the window counts the runs it passes over, kept ones among them), and a few runs before each
 * for its versions; locks nothing.
 */
export const EXPORT_RUN_WINDOW = `
  WITH w AS MATERIALIZED (
    SELECT e.id, e.seq, e.organization_id, e.integration_id, e.status, e.created_at, e.settled_at, e.mappings_used
    FROM export_runs e
    WHERE e.created_at < $1 AND e.created_at >= $3::timestamptz AND (e.created_at, e.id) > ($3::timestamptz, $4::uuid)
    ORDER BY e.created_at, e.id
    LIMIT $2
  )
  SELECT e.id, to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at, (${DELIVERY_OVER} AND ${OLD_ENOUGH('$1')} AND NOT ${FIRST_RUN_OF_A_VERSION}) AS prunable
  FROM w e
  ORDER BY e.created_at, e.id`;

/**
 * Up to `$3` rows of the runs `$1` (a window's prunable ones) whose delivery is still over and
 * which are old enough still (rechecked: whatever changed since the window was read). Each run's
 * rows through a look-up of its own (pk_export_run_rows), and the rows locked deleted by their
 * ctid (a locked row does not move): no join the planner could turn into reading the whole table
 * of rows for a batch of them, as a hash join with the batch did on a table of 20,000 rows.
 */
export const DELETE_EXPORT_RUN_ROWS = `
  WITH doomed AS (
    SELECT r.row_ctid
    FROM export_runs e
    CROSS JOIN LATERAL (
      SELECT x.ctid AS row_ctid FROM export_run_rows x WHERE x.export_run_id = e.id LIMIT $3 FOR UPDATE SKIP LOCKED
    ) r
    WHERE e.id = ANY($1::uuid[]) AND ${DELIVERY_OVER} AND ${OLD_ENOUGH('$2')}
    LIMIT $3
  ), deleted AS (
    DELETE FROM export_run_rows x WHERE x.ctid = ANY (ARRAY(SELECT row_ctid FROM doomed)) RETURNING 1
  )
  SELECT count(*)::int AS deleted FROM deleted`;

/**
 * The runs of `$1` whose rows are all gone (DELETE_EXPORT_RUN_ROWS goes first), rechecked likewise,
 * deleted likewise; their ids. Whether a run has rows left is a look-up of its own (a scalar
 * subquery, which the planner does not turn into a join over every row either).
 */
export const DELETE_EXPORT_RUNS = `
  WITH doomed AS (
    SELECT e.ctid AS run_ctid FROM export_runs e
    WHERE e.id = ANY($1::uuid[]) AND ${DELIVERY_OVER} AND ${OLD_ENOUGH('$2')}
      AND (SELECT r.index FROM export_run_rows r WHERE r.export_run_id = e.id LIMIT 1) IS NULL
    FOR UPDATE SKIP LOCKED
  )
  DELETE FROM export_runs x WHERE x.ctid = ANY (ARRAY(SELECT run_ctid FROM doomed)) RETURNING x.id`;

/**
 * The retention job's DELETE statements. Each deletes at most `limit` rows older than `before`,
 * oldest first, in a statement (and so a transaction) of its own: it holds its rows' locks for
 * that batch only. `SKIP LOCKED` steps over rows another transaction holds (a concurrent run of
 * the job), rather than waiting for them. Across every organization: it is the service's own
 * maintenance, not a tenant's request; each answers how many rows it deleted.
 *
 * Export runs go a window of runs at a time, oldest window first (RetentionService.pruneExportRuns):
 * exportRunWindow picks the window's runs that may go, then their rows go a batch at a time, each
 * batch followed by the runs it emptied. Each statement reads its window or its batch, never the
 * backlog behind it (test/retention-backlog.e2e-spec.ts), so a first prune of a large backlog costs
 * in proportion to what it deletes.
 */
@Injectable()
export class RetentionRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {
    super(dataSource.manager);
  }

  deleteWebhookEvents(before: Date, limit: number): Promise<number> {
    return this.deleteOldest('webhook_events', 'received_at', 'FOR UPDATE SKIP LOCKED', before, limit);
  }

  /** Sync runs are written once, when their attempt ends (src/sync/delivery.service.ts): none is updated later. */
  deleteSyncRuns(before: Date, limit: number): Promise<number> {
    return this.deleteOldest('sync_runs', 'created_at', 'FOR UPDATE SKIP LOCKED', before, limit);
  }

  /**
   * The `limit` export runs exported before `before` after `after` (null: from the oldest), and
   * which of them may go. The deletes that follow recheck a run's delivery and age, not whether it
   * is the first run of a version: that does not change once read. The first run that used a
   * version is itself kept, so a later one always finds it looking back, and a version's
   * used_in_export is set by the export that first used it, in that export's transaction, and
   * never cleared.
   * Without JIT: the planner's estimate, ~25 a run (it counts 100 versions a run, jsonb_array_elements'
   * default), passes jit_above_cost (100,000) from ~4,000 runs a window (RETENTION_BATCH_SIZE goes
   * up to 100,000), and JIT then compiled for as long as the statement ran (5,000 runs: 331 ms with
   * JIT, 166 ms without; from ~20,000 runs it also inlines and optimizes, for a second or more).
   */
  async exportRunWindow(before: Date, after: ExportRunPosition | null, limit: number): Promise<ExportRunWindow> {
    const from = after ?? FIRST_POSITION;
    const runs = await this.dataSource.transaction(async (manager) => {
      await manager.query('SET LOCAL jit = off');
      return queryRows<{ id: string; created_at: string; prunable: boolean }>(manager, EXPORT_RUN_WINDOW, [before, limit, from.createdAt, from.id]);
    });
    const last = runs.at(-1);
    return {
      prunable: runs.filter((run) => run.prunable).map((run) => run.id),
      scanned: runs.length,
      last: last ? { createdAt: last.created_at, id: last.id } : null,
    };
  }

  /** Up to `limit` rows of the runs `runIds` (from exportRunWindow's prunable), first: so deleting a run never cascades to a large number of rows. */
  deleteExportRunRows(runIds: readonly string[], before: Date, limit: number): Promise<number> {
    return this.deleted(DELETE_EXPORT_RUN_ROWS, [runIds, before, limit]);
  }

  /** The runs of `runIds` whose rows are gone (deleteExportRunRows goes first): the ids deleted. */
  async deleteExportRuns(runIds: readonly string[], before: Date): Promise<string[]> {
    return (await this.rows<{ id: string }>(DELETE_EXPORT_RUNS, [runIds, before])).map((run) => run.id);
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
      [before, limit],
    );
  }

  private async deleted(sql: string, parameters: readonly unknown[]): Promise<number> {
    const [row] = await this.rows<{ deleted: number }>(sql, parameters);
    return row.deleted;
  }
}
