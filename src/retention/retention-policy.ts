/** The tables the retention job prunes, in the order it prunes them. */
export const RETENTION_TABLES = ['webhook_events', 'sync_runs', 'export_run_rows', 'export_runs', 'audit_events'] as const;
export type RetentionTable = (typeof RETENTION_TABLES)[number];

/** Days each kind is kept (0: forever), as configured (src/config/app-config.ts, RETENTION_*_DAYS). */
export interface RetentionDays {
  webhookEvents: number;
  syncRuns: number;
  exportRuns: number;
  auditEvents: number;
}

/** For each table, the instant before which its rows go; null: kept forever. */
export type RetentionCutoffs = Record<RetentionTable, Date | null>;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The cutoffs of a run at `now`. Whole days of 24 hours back from `now` (not calendar days: a row
 * is pruned once it is that old, whatever the time zone). An export run's rows go with their run,
 * so both take the export runs' setting.
 */
export function retentionCutoffs(days: RetentionDays, now: Date): RetentionCutoffs {
  const before = (kept: number) => (kept > 0 ? new Date(now.getTime() - kept * DAY_MS) : null);
  return {
    webhook_events: before(days.webhookEvents),
    sync_runs: before(days.syncRuns),
    export_run_rows: before(days.exportRuns),
    export_runs: before(days.exportRuns),
    audit_events: before(days.auditEvents),
  };
}

/** Nothing to prune at all: every kind is kept forever. */
export function keepsEverything(days: RetentionDays): boolean {
  return Object.values(days).every((kept) => kept === 0);
}
