import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { JobQueue, RETENTION_JOB_EXPIRY_SECONDS } from '../job-queue/job-queue';
import { keepsEverything, retentionCutoffs, RETENTION_TABLES, type RetentionDays, type RetentionTable } from './retention-policy';
import { RetentionRepository, type ExportRunPosition } from './retention.repository';
import { driverErrorOf } from '../database/driver-error';

/** What a run deleted per table; a table kept forever is absent. */
export type RetentionCounts = Partial<Record<RetentionTable, number>>;

/**
 * How long one run deletes before it stops (the next hour's carries on): well inside its job's
 * expiry, after which pg-boss would start the job's retry beside it. A first prune of a large
 * backlog thus takes several runs, never several at once.
 */
export const RETENTION_RUN_BUDGET_MS = RETENTION_JOB_EXPIRY_SECONDS * 1000 * 0.8;

/** PostgreSQL's insufficient_privilege: the operator revoked DELETE on the table from the service's role. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Prunes stored webhook events, sync runs and export runs (with their rows) older than their
 * configured age, and audit events only when RETENTION_AUDIT_EVENTS_DAYS says so. Runs as a job of
 * the PostgreSQL job queue on its cron schedule (JobQueue.workRetention: once an hour, whichever
 * instance takes it), on the instances that run workers (DELIVERY_WORKERS > 0), as deliveries do.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Retention');
  private stopping = false;
  /** The run under way in this instance: a second job taken meanwhile (a retry, the next hour's) does not start another. */
  private running: Promise<RetentionCounts> | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly jobs: JobQueue,
    private readonly repository: RetentionRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // An API-only instance (DELIVERY_WORKERS=0) works no job: the worker instances prune.
    if (this.config.deliveryWorkers === 0) return;
    if (keepsEverything(this.days())) await this.jobs.unscheduleRetention();
    else await this.jobs.workRetention(() => this.runOnce().then(() => undefined));
  }

  /** Between two batches: a run stopped here is carried on by the next. */
  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  /** A job's run, unless one is under way in this instance already (then nothing: that one carries on). */
  async runOnce(): Promise<RetentionCounts | null> {
    if (this.running) {
      this.logger.warn({ event: 'retention_skipped', reason: 'a run is under way in this instance' });
      return null;
    }
    this.running = this.run();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  /** One run: every table, a batch at a time, oldest rows first, within RETENTION_RUN_BUDGET_MS; one log line with the counts. */
  async run(now = new Date()): Promise<RetentionCounts> {
    const started = performance.now();
    const deadline = Date.now() + RETENTION_RUN_BUDGET_MS;
    const outOfTime = () => this.stopping || Date.now() > deadline;
    const cutoffs = retentionCutoffs(this.days(), now);
    const batch = this.config.retentionBatchSize;
    const batches = (deleteBatch: (limit: number) => Promise<number>) => this.inBatches(deleteBatch, batch, outOfTime);
    // In RETENTION_TABLES' order, each with the table whose cutoff it uses. An export run goes with
    // its rows, in export_run_rows' step, which counts both.
    const steps: [RetentionTable, (before: Date) => Promise<RetentionCounts>][] = [
      ['webhook_events', async (before) => ({ webhook_events: await batches((limit) => this.repository.deleteWebhookEvents(before, limit)) })],
      ['sync_runs', async (before) => ({ sync_runs: await batches((limit) => this.repository.deleteSyncRuns(before, limit)) })],
      ['export_run_rows', (before) => this.pruneExportRuns(before, batch, outOfTime)],
      ['audit_events', async (before) => ({ audit_events: await batches((limit) => this.repository.deleteAuditEvents(before, limit)) })],
    ];
    const deleted: RetentionCounts = {};
    for (const [table, step] of steps) {
      const before = cutoffs[table];
      if (!before || outOfTime()) continue;
      try {
        Object.assign(deleted, await step(before));
      } catch (error) {
        // A supported set-up: the operator keeps audit events whatever the setting says.
        if (table !== 'audit_events' || sqlState(error) !== INSUFFICIENT_PRIVILEGE) throw error;
        this.logger.warn({ event: 'retention_delete_refused', table, reason: 'permission denied: DELETE is revoked from the service role; audit events are kept' });
      }
    }
    this.logger.log({
      event: 'retention_completed',
      deleted,
      kept_forever: RETENTION_TABLES.filter((table) => !cutoffs[table]),
      stopped_early: outOfTime(),
      duration_ms: Math.round(performance.now() - started),
    });
    return deleted;
  }

  /**
   * Export runs exported before `before`, a window of `limit` runs at a time, oldest first: the
   * window's runs that may go (RetentionRepository.exportRunWindow), then their rows a batch of
   * `limit` at a time, each batch followed by the runs it emptied (deleted at once: left, the next
   * batch would walk them again), until a batch comes back short (the window's rows are gone, but
   * those another transaction holds: the next run's). The next window starts after this one, past
   * the runs kept (first runs of mapping versions, deliveries not over, runs delivered late): each
   * statement reads its window, never the backlog behind it, and a window of runs all kept does
   * not end the pass. It ends with a window shorter than `limit` (no run exported before `before`
   * after it), or when the run's time is up.
   */
  private async pruneExportRuns(before: Date, limit: number, outOfTime: () => boolean): Promise<RetentionCounts> {
    let rows = 0;
    let runs = 0;
    let after: ExportRunPosition | null = null;
    for (;;) {
      const window = await this.repository.exportRunWindow(before, after, limit);
      let left = window.prunable;
      while (left.length > 0) {
        const deletedRows = await this.repository.deleteExportRunRows(left, before, limit);
        rows += deletedRows;
        const gone = new Set(await this.repository.deleteExportRuns(left, before));
        runs += gone.size;
        left = left.filter((id) => !gone.has(id));
        if (deletedRows < limit || outOfTime()) break;
      }
      if (window.scanned < limit || !window.last || outOfTime()) return { export_run_rows: rows, export_runs: runs };
      after = window.last;
    }
  }

  /** Batches until one comes back short (or the application stops, or the run's time is up); the total deleted. */
  private async inBatches(deleteBatch: (limit: number) => Promise<number>, limit: number, outOfTime: () => boolean): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await deleteBatch(limit);
      total += deleted;
      if (deleted < limit || outOfTime()) return total;
    }
  }

  private days(): RetentionDays {
    return {
      webhookEvents: this.config.retentionWebhookEventsDays,
      syncRuns: this.config.retentionSyncRunsDays,
      exportRuns: this.config.retentionExportRunsDays,
      auditEvents: this.config.retentionAuditEventsDays,
    };
  }
}

function sqlState(error: unknown): string | undefined {
  return driverErrorOf(error)?.code;
}
