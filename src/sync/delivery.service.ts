import { countOf } from '../common/count-of';
import { isDeepStrictEqual } from 'node:util';
import { Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { AlertType } from '../alerts/alert-event';
import { AlertsService } from '../alerts/alerts.service';
import { configResource } from '../audit/audit-actions';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { SecretDecryptionError } from '../crypto/secret-cipher';
import { EgressRefused } from '../egress/outbound-http';
import { ExportRunRowRepository } from '../export-runs/export-run-row.repository';
import type { ExportRunRowEntity } from '../export-runs/export-run.entity';
import { ExportRunRepository, type DeliverableRun } from '../export-runs/export-run.repository';
import type { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';
import { IntegrationConfigService } from '../integration-config/integration-config.service';
import { JobQueue, type DeliveryJob } from '../job-queue/job-queue';
import {
  attemptError,
  connectorContext,
  DeliveryFailure,
  DeliveryStopped,
  outcomesForEveryRow,
  STOP_REASONS,
  outcomesForRowsSent,
  requestGate,
  retryDelayMs,
  rowReference,
  type Connector,
  type RowOutcome,
} from './connector';
import { ConnectorRegistry } from './connector.registry';
import { DeliveryLocks, type HeldLock } from './delivery-lock';
import { SyncService, type IntegrationCredentials } from './sync.service';
import { SyncRunRepository } from '../integration-config/sync-run.repository';
import { DeliveryMetrics } from '../metrics/delivery-metrics';
import { TransactionRunner, type Transaction } from '../database/transaction';

/** What an attempt ended with, for its sync run. */
interface AttemptOutcome {
  status: 'success' | 'partial' | 'failed';
  delivered: number;
  /** Rows the system refused (for the metrics). */
  refused?: number;
  error?: string;
  /** Stopped on purpose (the config disabled or paused meanwhile): not a failure towards the pause. */
  stopped?: boolean;
  /** The system answered for every row sent (a refusal is its answer): reachable, whatever it refused. */
  answered?: boolean;
}

/** An alert an attempt raises with the run's new state. */
type RaisedAlert = [AlertType, { attempts: number; error?: string }];

/** The error of an attempt whose worker died or lost its lock mid-way. */
const WORKER_LOST = 'worker_lost';

/** Pending rows read at once (at least a batch): a run holds at most 10,000 (an export's limit). */
const PENDING_READ_AHEAD = 1_000;

/** A config whose type has no connector here: its job looks again this much later, wherever it is taken then. */
const NO_CONNECTOR_RETRY_MS = 60_000;

/** When another attempt holds the config, its job looks again this much later (the holder may have listed its runs before this job's were queued). */
const LOCK_BUSY_RETRY_MS = 2_000;

/**
 * The delivery engine: works the job queue's delivery jobs, one attempt per config at a time
 * across every instance (an advisory lock per config), delivering each queued run's pending rows
 * through the config's connector, a batch at a time. Every attempt is a sync run
 * (sync_status_updated_after_every_attempt); a disabled config is never attempted
 * (disabled_integration_must_not_sync), and an attempt stops before its next request when the
 * config is disabled meanwhile.
 */
@Injectable()
export class DeliveryService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Delivery');
  /** SIGTERM received: attempts stop before their next request, and no new one starts here. */
  private stopping = false;
  /** This instance's attempts under way (each settles, never rejects, once its attempt ends): the shutdown and the DELIVERY_WORKERS bound wait for them. */
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly config: AppConfig,
    private readonly jobs: JobQueue,
    private readonly locks: DeliveryLocks,
    private readonly connectors: ConnectorRegistry,
    private readonly configs: IntegrationConfigRepository,
    private readonly configService: IntegrationConfigService,
    private readonly runs: ExportRunRepository,
    private readonly rows: ExportRunRowRepository,
    private readonly syncRuns: SyncRunRepository,
    private readonly transactions: TransactionRunner,
    private readonly sync: SyncService,
    private readonly audit: AuditService,
    private readonly alerts: AlertsService,
    // Counts attempts for GET /metrics; absent without the HTTP service's MetricsModule (a host application).
    @Optional() private readonly metrics?: DeliveryMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // DELIVERY_WORKERS=0: an API-only instance; it still queues, others deliver.
    if (this.config.deliveryWorkers === 0) return;
    await this.jobs.workDeliveries(this.config.deliveryWorkers, (job) => this.deliverConfig(job));
    if (this.config.deliverySweepMinutes > 0) await this.jobs.workDeliverySweep(() => this.requeueStranded());
    else await this.jobs.unscheduleDeliverySweep();
  }

  /**
   * The delivery sweep (every DELIVERY_SWEEP_MINUTES): every config with runs waiting gets its job again, by
   * its schedule or its runs' retry. A job is given up after its own retries (the database away
   * for longer than they last) and the runs it was for would wait for someone to ask; a config
   * whose job still waits keeps it (only ever brought forward, never pushed back).
   */
  async requeueStranded(): Promise<void> {
    const configs = await this.runs.listConfigsWithDeliverableRuns();
    for (const config of configs) await this.jobs.scheduleDelivery(config, { retryAt: config.retry_at });
    if (configs.length > 0) this.logger.log({ event: 'delivery_sweep', configs: configs.length });
  }

  /** Attempts under way here (the shutdown deadline's line names what it gave up on). */
  get attemptsRunning(): number {
    return this.active.size;
  }

  /** POST …/sync: the config's queued runs, now, whatever its sync_frequency. */
  async syncNow(orgId: string, integrationId: string, actor: Principal): Promise<{ queued_runs: number }> {
    const config = foundOr404(await this.configs.findByOrgAndId(orgId, integrationId), 'Integration config');
    if (!config.enabled) throw new RuleViolation('disabled_integration_must_not_sync', 'This integration is disabled: nothing is delivered to it.');
    if (config.paused) throw new RuleViolation('integration_paused', 'Deliveries of this integration are paused after failed attempts: fix the cause, then PATCH paused: false.');
    const queued = await this.runs.countDeliverable(orgId, integrationId);
    // The trail's event and the job commit together: none is carried out unrecorded, nor recorded and not carried out.
    await this.transactions.run(async (tx) => {
      await this.audit.record({ orgId, actor, action: 'delivery.requested', resource: configResource(integrationId), details: { queued_runs: queued } }, tx);
      if (queued === 0) return;
      // Now means now: a run waiting out a retry (after the admin fixed its cause, say) would hold up every run after it.
      await this.runs.in(tx).clearRetryWaits(orgId, integrationId);
      await this.jobs.enqueueDelivery({ orgId, integrationId }, undefined, tx);
    });
    if (queued > 0) this.jobs.wakeDeliveryWorkers();
    return { queued_runs: queued };
  }

  /** One delivery job: the config's queued runs, oldest first, until one needs a retry; nothing while another attempt holds the config. */
  async deliverConfig(job: DeliveryJob): Promise<void> {
    // pg-boss gives a worker its next job once a job outlives its expiry (DELIVERY_JOB_TIMEOUT_SECONDS),
    // while that attempt still runs on: never more attempts here than DELIVERY_WORKERS, each holding
    // a pool connection. The worker waits (holding nothing) rather than fetch job after job.
    while (this.active.size >= Math.max(1, this.config.deliveryWorkers)) await Promise.race(this.active);
    // Taken as the instance stops: back in the queue, for another instance.
    if (this.stopping) return this.jobs.enqueueDelivery(job);
    const work = this.locks.withConfigLock(job.integrationId, (lock) => this.deliverQueuedRuns(job, lock));
    // Gone from the set before it settles: a waiter woken by it finds its place free.
    const ended: Promise<void> = work.then(
      () => void this.active.delete(ended),
      () => void this.active.delete(ended),
    );
    this.active.add(ended);
    if (!(await work).acquired) await this.jobs.enqueueDelivery(job, LOCK_BUSY_RETRY_MS);
  }

  /**
   * SIGTERM: no job is taken any more, and each attempt under way stops before its next request
   * (at most one request, its timeout, away), its run queued again at once for another instance
   * and not counted as an attempt. Before the shutdown hooks: the attempts' lock connections and
   * the job queue are still there to record it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.jobs.stopWorkingDeliveries();
    await Promise.allSettled([...this.active]);
  }

  private async deliverQueuedRuns({ orgId, integrationId }: DeliveryJob, lock: HeldLock): Promise<void> {
    for (const run of await this.runs.in(lock.session).listDeliverable(orgId, integrationId)) {
      if (this.stopping) return this.jobs.enqueueDelivery({ orgId, integrationId });
      // On the lock's connection: a read that fails when the lock is gone (another instance may hold the config now).
      const config = await this.configs.in(lock.session).findByOrgAndId(orgId, integrationId);
      // Deleted (its runs went with it), disabled or paused: nothing is sent; queued runs wait for it.
      if (!config) return;
      if (whyStopped(config)) {
        // One its lost worker left `delivering` waits as what it is, queued, its lost attempt recorded.
        if (run.status === 'delivering') await this.recordLostAttempt(config, run, engineActor(run), new Date(), lock);
        return;
      }
      const connector = this.connectors.find(config.integration_type);
      if (!connector) {
        // Registered by another instance (a host application's own type): the job goes back for it, not dropped with its runs.
        this.logger.warn({ event: 'no_connector', org_id: orgId, config_id: integrationId, integration_type: config.integration_type });
        return this.jobs.enqueueDelivery({ orgId, integrationId }, NO_CONNECTOR_RETRY_MS);
      }
      if (run.next_attempt_at && run.next_attempt_at.getTime() > Date.now()) {
        // Backing off: this run (and those after it) wait for their retry time (a delay: the job is due by the database's clock).
        return this.jobs.enqueueDelivery({ orgId, integrationId }, run.next_attempt_at.getTime() - Date.now());
      }
      const carryOn = await this.attempt(config, run, connector, lock).catch((error: unknown) => this.unlessDeleted(config, lock, error));
      if (!carryOn) return;
    }
  }

  /**
   * One attempt at a run; false when the config's deliveries must stop here (retry later, disabled).
   * Every read and write of the attempt goes through the lock's connection: once the lock is lost
   * (its connection with it) nothing more of this attempt is stored, while another may hold the
   * config; the next attempt records this one as lost.
   */
  private async attempt(config: IntegrationConfigEntity, run: DeliverableRun, connector: Connector, lock: HeldLock): Promise<boolean> {
    const orgId = config.organization_id;
    const actor = engineActor(run);
    const startedAt = new Date();
    if (run.status === 'delivering' && (await this.recordLostAttempt(config, run, actor, startedAt, lock)) === 'out of attempts') return true;
    const attempts = run.delivery_attempts + 1;
    await this.runs.in(lock.session).updateDelivery(orgId, run.id, { status: 'delivering', delivery_attempts: attempts, next_attempt_at: null, not_before: null });
    let credentials: IntegrationCredentials;
    try {
      credentials = this.sync.credentialsOf(config, actor, 'delivery');
    } catch (error) {
      // A secret no key of the keyring opens (a key removed too soon): a failed attempt saying which key,
      // retried with backoff like the rest (the key may be put back), not a job that dies as a lost worker.
      if (!(error instanceof SecretDecryptionError)) throw error;
      return (await this.failAttempt(config, run, actor, startedAt, attempts, 0, error, async (texts) => texts, lock)) === 'out of attempts';
    }
    const context = connectorContext(config, credentials);
    // What the external system writes is scrubbed of the organization's secrets, read once an attempt.
    const scrub = this.configService.secretScrubber(orgId, [credentials.api_key, credentials.client_secret, credentials.webhook_secret], lock.session);
    let delivered = 0;
    let refused = 0;
    // Before each request after the attempt's first: before each batch here, and the connector asks before its own second one.
    const stopCheck = () => this.throwIfStopped(config, lock);
    const gate = requestGate(stopCheck);
    // The instance stopping is asked before the first request too: nothing is sent after SIGTERM but what was already on its way.
    const beforeBatch = async () => {
      if (this.stopping) throw new DeliveryStopped('shutdown');
      await gate();
    };
    for await (const batch of this.pendingBatches(orgId, run.id, connector.maxBatchSize, lock)) {
      let outcomes;
      const rows = batch.map((row) => ({ index: row.index, reference: rowReference(run.id, row.index), output: row.output ?? {} }));
      try {
        await beforeBatch();
        outcomes = outcomesForEveryRow(connector.integrationType, rows, await connector.deliver({ ...context, beforeRequest: stopCheck }, rows));
      } catch (error) {
        // What the system answered before the batch failed or stopped is kept: those rows are not sent again.
        const answered = outcomesForRowsSent(rows, error instanceof DeliveryFailure || error instanceof DeliveryStopped ? error.answered : []);
        if (answered.length > 0) delivered += (await this.storeOutcomes(orgId, run.id, answered, scrub, lock)).delivered;
        if (error instanceof DeliveryStopped) {
          await this.recordStopped(config, run.id, actor, startedAt, attempts, delivered, error.reason, lock);
          return false;
        }
        // Out of attempts, the run is failed: the config's other runs go on.
        return (await this.failAttempt(config, run, actor, startedAt, attempts, delivered, error, scrub, lock)) === 'out of attempts';
      }
      const stored = await this.storeOutcomes(orgId, run.id, outcomes, scrub, lock);
      delivered += stored.delivered;
      refused += stored.refused;
    }
    const outcome: AttemptOutcome = {
      status: refused === 0 ? 'success' : delivered > 0 ? 'partial' : 'failed',
      delivered,
      refused,
      error: refused > 0 ? `${countOf(refused, 'row')} refused by the external system` : undefined,
      answered: true,
    };
    // The attempt's sync run and the run's new state commit together: a worker lost between them would have its attempt recorded twice.
    await lock.transaction(async (tx) => {
      await this.record(config, actor, startedAt, outcome, tx);
      const counts = await this.counts(orgId, run.id, tx);
      const status = counts.failed_count === 0 ? 'delivered' : counts.delivered_count > 0 ? 'partially_delivered' : 'failed';
      const lastError = counts.failed_count > 0 ? `${countOf(counts.failed_count, 'row')} refused` : null;
      const alerts: RaisedAlert[] = status === 'failed' ? [['delivery.failed', { attempts, error: lastError ?? undefined }]] : [];
      await this.settleRun(config, run.id, { status, ...counts, last_error: lastError }, alerts, tx);
    });
    this.metrics?.attemptEnded(config.integration_type, outcome);
    return true;
  }

  /**
   * The run was left `delivering`: the previous attempt's worker died mid-way, or lost its lock's
   * connection (the lock is free now, so that attempt is over). It is recorded as a failed attempt
   * (`worker_lost`, with the rows it did deliver); the run is retried, or failed if that was its
   * last and rows are still pending (if none is, this attempt settles it).
   */
  private async recordLostAttempt(config: IntegrationConfigEntity, run: DeliverableRun, actor: Principal, startedAt: Date, lock: HeldLock): Promise<'retry' | 'out of attempts'> {
    const orgId = config.organization_id;
    const { outcome, outOfAttempts } = await lock.transaction(async (tx) => {
      const { delivered: deliveredCount, failed: failedCount, pending } = await this.rows.in(tx).countOutcomes(orgId, run.id);
      const delivered = Math.max(0, deliveredCount - run.delivered_count);
      const lost: AttemptOutcome = { status: delivered > 0 ? 'partial' : 'failed', delivered, error: WORKER_LOST };
      await this.record(config, actor, startedAt, lost, tx);
      const last = run.delivery_attempts >= this.config.deliveryMaxAttempts && pending > 0;
      const counts = { delivered_count: deliveredCount, failed_count: failedCount };
      if (last) {
        const alerts: RaisedAlert[] = [['delivery.failed', { attempts: run.delivery_attempts, error: WORKER_LOST }]];
        await this.settleRun(config, run.id, { status: 'failed', ...counts, last_error: WORKER_LOST }, alerts, tx);
      } else {
        // What this lost attempt delivered is counted now: the next one lost counts only its own.
        await this.runs.in(tx).updateDelivery(orgId, run.id, { status: 'queued', ...counts });
      }
      return { outcome: lost, outOfAttempts: last };
    });
    this.metrics?.attemptEnded(config.integration_type, outcome);
    return outOfAttempts ? 'out of attempts' : 'retry';
  }

  /**
   * An attempt that failed because its config was deleted meanwhile (during its last batch, say:
   * recording it found no config) ends quietly: its runs and rows went with the config, nothing is
   * left to record or retry. Any other failure is the job's.
   */
  private async unlessDeleted(config: IntegrationConfigEntity, lock: HeldLock, error: unknown): Promise<false> {
    // A read that fails too (the lock's connection gone) says nothing: the attempt's own error stands.
    if ((await this.stopReason(config, lock).catch(() => null)) === 'deleted') return false;
    throw error;
  }

  /** Disabled, paused or deleted meanwhile, or the instance stopping: the attempt stops before its next request (DeliveryStopped). */
  private async throwIfStopped(config: IntegrationConfigEntity, lock: HeldLock): Promise<void> {
    const reason = this.stopping ? 'shutdown' : await this.stopReason(config, lock);
    if (reason) throw new DeliveryStopped(reason);
  }

  /** Why nothing more may be sent to the config as it is now, read on the lock's connection (null: it may); `config`: as the attempt read it. */
  private async stopReason(config: IntegrationConfigEntity, lock: HeldLock): Promise<DeliveryStopped['reason'] | null> {
    const now = await this.configs.in(lock.session).findByOrgAndId(config.organization_id, config.id);
    return whyStopped(now) ?? (now && sendsElsewhere(config, now) ? 'config_changed' : null);
  }

  /**
   * An attempt stopped on purpose is recorded (not a failure towards the pause) but not counted towards
   * DELIVERY_MAX_ATTEMPTS: no fault of the run's, and an admin's disabling must not use up its retries.
   * The run waits, queued, for re-enabling or resuming; stopped by the instance's shutdown, or by a
   * change of where or with what it is sent, it goes on at once wherever the job is taken next. A
   * deleted config took its runs with it.
   */
  private async recordStopped(
    config: IntegrationConfigEntity,
    runId: string,
    actor: Principal,
    startedAt: Date,
    attempts: number,
    delivered: number,
    reason: DeliveryStopped['reason'],
    lock: HeldLock,
  ): Promise<void> {
    if (reason === 'deleted') return;
    const orgId = config.organization_id;
    // Another instance carries a shutdown's run on, this one a changed config's: at once, either way.
    const goesOnNow = reason === 'shutdown' || reason === 'config_changed';
    const outcome: AttemptOutcome = { status: delivered > 0 ? 'partial' : 'failed', delivered, error: reason, stopped: true };
    await lock.transaction(async (tx) => {
      await this.record(config, actor, startedAt, outcome, tx);
      const counts = await this.counts(orgId, runId, tx);
      await this.runs.in(tx).updateDelivery(orgId, runId, { status: 'queued', ...counts, delivery_attempts: attempts - 1 });
      if (goesOnNow) await this.jobs.enqueueDelivery({ orgId, integrationId: config.id }, undefined, tx);
    });
    this.metrics?.attemptEnded(config.integration_type, outcome);
  }

  /**
   * The run's pending rows in the connector's batches, read PENDING_READ_AHEAD at a time: one round
   * trip for many small batches (Dataverse takes 100), the memory still bounded.
   */
  private async *pendingBatches(orgId: string, runId: string, batchSize: number, lock: HeldLock): AsyncGenerator<Pick<ExportRunRowEntity, 'index' | 'output'>[]> {
    const readAhead = Math.max(batchSize, PENDING_READ_AHEAD);
    for (let after = -1; ;) {
      const rows = await this.rows.in(lock.session).listPendingAfter(orgId, runId, after, readAhead);
      for (let i = 0; i < rows.length; i += batchSize) yield rows.slice(i, i + batchSize);
      // A short read is the last: no round trip to find nothing.
      if (rows.length < readAhead) return;
      after = rows[rows.length - 1].index;
    }
  }

  /** A batch's outcomes, the system's words scrubbed of the organization's secrets. */
  private async storeOutcomes(
    orgId: string,
    runId: string,
    outcomes: RowOutcome[],
    scrub: (texts: string[]) => Promise<string[]>,
    lock: HeldLock,
  ): Promise<{ delivered: number; refused: number }> {
    const failed = outcomes.filter((o) => o.status === 'failed');
    const reasons = await scrub(failed.map((o) => o.error));
    await this.rows.in(lock.session).applyOutcomes(orgId, runId, [...outcomes.filter((o) => o.status === 'delivered'), ...failed.map((o, i) => ({ ...o, error: reasons[i] }))]);
    return { delivered: outcomes.length - failed.length, refused: failed.length };
  }

  /** A batch failed as a whole: the attempt is a failed sync run; the run is retried with backoff, or failed once out of attempts. */
  private async failAttempt(
    config: IntegrationConfigEntity,
    run: DeliverableRun,
    actor: Principal,
    startedAt: Date,
    attempts: number,
    delivered: number,
    error: unknown,
    scrub: (texts: string[]) => Promise<string[]>,
    lock: HeldLock,
  ): Promise<'retry' | 'out of attempts'> {
    const orgId = config.organization_id;
    // The engine's refusal, no one's request: no actor, as for an alert's (the run names who queued it).
    if (error instanceof EgressRefused) await this.audit.recordEgressRefusal(orgId, configResource(config.id), error, 'delivery', null);
    const failure = error instanceof DeliveryFailure ? error : undefined;
    const [message] = await scrub([attemptError(error)]);
    const outOfAttempts = attempts >= this.config.deliveryMaxAttempts;
    const retryInMs = outOfAttempts ? null : retryDelayMs(attempts, this.config.deliveryBackoffBaseMs, failure?.retryAfterSeconds);
    const nextAttemptAt = retryInMs === null ? null : new Date(Date.now() + retryInMs);
    // The system's own wait, kept apart from the backoff: POST …/sync may skip the one, not the other.
    const notBefore = retryInMs !== null && failure?.retryAfterSeconds && failure.retryAfterNamed ? new Date(Date.now() + failure.retryAfterSeconds * 1000) : null;
    const outcome: AttemptOutcome = { status: delivered > 0 ? 'partial' : 'failed', delivered, error: message };
    const alerts: RaisedAlert[] = [];
    // Once per streak of refusals, not once per retry.
    if (failure?.kind === 'credentials_rejected' && (await this.lastAttemptError(config, lock)) !== 'credentials_rejected')
      alerts.push(['credentials.rejected', { attempts, error: message }]);
    if (outOfAttempts) alerts.push(['delivery.failed', { attempts, error: message }]);
    // The retry's job commits with the run's state: never one without the other.
    await lock.transaction(async (tx) => {
      await this.record(config, actor, startedAt, outcome, tx);
      const counts = await this.counts(orgId, run.id, tx);
      await this.settleRun(
        config,
        run.id,
        { status: outOfAttempts ? 'failed' : 'queued', ...counts, next_attempt_at: nextAttemptAt, not_before: notBefore, last_error: message },
        alerts,
        tx,
      );
      if (retryInMs !== null) await this.jobs.enqueueDelivery({ orgId, integrationId: config.id }, retryInMs, tx);
    });
    this.metrics?.attemptEnded(config.integration_type, outcome);
    return outOfAttempts ? 'out of attempts' : 'retry';
  }

  /** The config's last attempt's error, passing over attempts stopped on purpose: like the attempts count, they end no streak. */
  private async lastAttemptError(config: IntegrationConfigEntity, lock: HeldLock): Promise<string | null> {
    if (!(STOP_REASONS as readonly string[]).includes(config.last_sync_error ?? '')) return config.last_sync_error;
    return this.syncRuns.in(lock.session).latestErrorExcept(config.organization_id, config.id, STOP_REASONS);
  }

  /** The run's new delivery state, and the alerts it raises, in the attempt's transaction: both or neither. */
  private async settleRun(
    config: IntegrationConfigEntity,
    runId: string,
    changes: Parameters<ExportRunRepository['updateDelivery']>[2],
    alerts: RaisedAlert[],
    tx: Transaction,
  ): Promise<void> {
    const orgId = config.organization_id;
    // A final state: retention ages the run from now.
    const settled = changes.status && changes.status !== 'queued' ? { settled_at: new Date() } : {};
    await this.runs.in(tx).updateDelivery(orgId, runId, { ...changes, ...settled });
    for (const [type, data] of alerts) await this.alerts.raise(orgId, type, { ...alertSubject(config), export_run_id: runId, ...data }, tx);
  }

  /** The run's counts from its rows: the truth, also after a lost worker delivered some of them. */
  private async counts(orgId: string, runId: string, tx: Transaction): Promise<{ delivered_count: number; failed_count: number }> {
    const { delivered, failed } = await this.rows.in(tx).countOutcomes(orgId, runId);
    return { delivered_count: delivered, failed_count: failed };
  }

  /** The attempt's sync run, in the transaction that also settles the run: whoever sees the run settle sees its attempt recorded. */
  private async record(config: IntegrationConfigEntity, actor: Principal, startedAt: Date, outcome: AttemptOutcome, tx: Transaction): Promise<void> {
    const error = outcome.status === 'success' ? undefined : (outcome.error ?? 'delivery failed');
    await this.configService.recordDeliveryAttempt(
      config.organization_id,
      config.id,
      { status: outcome.status, started_at: startedAt.toISOString(), records_pushed: outcome.delivered, error },
      actor,
      {
        after: this.config.alertPauseAfterFailures,
        countsTowardPause: !outcome.stopped,
        reachable: outcome.answered === true,
        onPaused: (pauseTx, failures) =>
          this.alerts.raise(config.organization_id, 'integration.paused', { ...alertSubject(config), consecutive_failures: failures, error }, pauseTx),
      },
      tx,
    );
  }
}

/** Why nothing more may be sent to a config as it is now (null: it may). */
function whyStopped(config: IntegrationConfigEntity | null): DeliveryStopped['reason'] | null {
  if (!config) return 'deleted';
  if (!config.enabled) return 'disabled_integration_must_not_sync';
  return config.paused ? 'integration_paused' : null;
}

/** Who the engine's attempts at a run act as: the service, on behalf of whoever queued the run. */
function engineActor(run: DeliverableRun): Principal {
  return { sub: run.created_by, role: 'sync_service', orgId: null };
}

/** What the connector sends with, and to: a change of any of them mid-attempt stops it before its next request. */
const DESTINATION_FIELDS = ['base_url', 'api_key_encrypted', 'client_id', 'client_secret_encrypted', 'tenant_id', 'extra_config'] as const;

/** The config now sends elsewhere, or with other credentials, than when the attempt read it (a key rotation's new envelope counts: it cannot be told apart unread). */
function sendsElsewhere(before: IntegrationConfigEntity, now: IntegrationConfigEntity): boolean {
  return DESTINATION_FIELDS.some((field) => !isDeepStrictEqual(before[field], now[field]));
}

function alertSubject(config: IntegrationConfigEntity) {
  return { integration_id: config.id, integration_type: config.integration_type };
}
