import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { AppConfig } from '../config/app-config';
import { storableText } from '../common/json-body';
import { CONNECTION_KEEPALIVE } from '../database/data-source-options';
import type { SyncFrequency } from '../integration-config/integration-config.entity';
import { nextSlot } from '../sync/sync-schedule';
import type { Transaction } from '../database/transaction';

/**
 * The queue of delivery jobs, at most one waiting per config (pg-boss `short`: one `created` job
 * per singleton key). Not `stately`: there a queued job whose key also has an active one fails
 * the whole fetch on a unique index, and every worker of every config waits behind it (pg-boss
 * #535/#536); one attempt per config at a time is the engine's advisory lock instead.
 */
export const DELIVERY_QUEUE = 'meander-deliveries';
/**
 * The retention job's queue (src/retention). Its cron schedule (pg-boss's) sends one job per
 * period whichever instances are up; `short`, so at most one job waits.
 */
export const RETENTION_QUEUE = 'meander-retention';
/** Hourly at minute 17 (UTC): small runs, away from the top of the hour when scheduled deliveries start. */
export const RETENTION_CRON = '17 * * * *';
/** The look for runs whose config has no delivery job any more (DeliveryService.requeueStranded), every DELIVERY_SWEEP_MINUTES. */
export const DELIVERY_SWEEP_QUEUE = 'meander-delivery-sweep';

/** Every `minutes` of the hour, off its top (3 past, 13 past… for 10) where scheduled deliveries start. */
export function deliverySweepCron(minutes: number): string {
  return `${3 % minutes}-59/${minutes} * * * *`;
}
/** pg-boss keeps its tables in a schema of its own, created and migrated by its start(). */
export const JOB_QUEUE_SCHEMA = 'pgboss';

/** Failure alerts on their way to the organizations' endpoints: retried with backoff, each on its own. */
export const ALERT_QUEUE = 'meander-alerts';
/**
 * A retention job's expiry. pg-boss does not stop a handler it expires: it fails the job and takes
 * its retry while the handler runs on, so a run must end well before (RetentionService's budget).
 */
export const RETENTION_JOB_EXPIRY_SECONDS = 50 * 60;
/** Sends of one alert before it is given up (pg-boss retries after 1, 2, 4, … × the retry delay). */
const ALERT_RETRY_LIMIT = 8;
/** One alert send's expiry: a worker lost mid-send has its job retried after this (a send itself times out in 10 s). */
const ALERT_JOB_EXPIRY_SECONDS = 120;
/** The most the maintenance loop (expiry, archiving) waits between runs (started()). */
const MAX_MAINTENANCE_INTERVAL_SECONDS = 120;
/** What pg-boss keeps a job waiting by default: the slack left on top of an alert's backoff for workers that are down. */
const DEFAULT_KEEP_SECONDS = 14 * 86_400;

/**
 * How long an alert job may wait, from its first start (pg-boss `keep_until`). pg-boss sets it once,
 * never moves it on a retry, and archives a job still waiting (`created` or `retry`) past it without
 * failing it: the alert would vanish silently. So it covers the whole backoff, retry n waiting
 * delay × 2^(n-1) × (1..2) (pg-boss 10 plans.js failJobs), each failed send up to its expiry and a
 * maintenance run, and pg-boss's own 14 days besides. At the largest delay (3600 s) about 35 days.
 */
export function alertRetentionSeconds(retryDelaySeconds: number): number {
  const backoff = retryDelaySeconds * 2 * (2 ** ALERT_RETRY_LIMIT - 1);
  return backoff + ALERT_RETRY_LIMIT * (ALERT_JOB_EXPIRY_SECONDS + MAX_MAINTENANCE_INTERVAL_SECONDS) + DEFAULT_KEEP_SECONDS;
}

export interface AlertJob {
  orgId: string;
  endpointId: string;
  /** The alert's body as sent (src/alerts/alert-event.ts); no secret in it. */
  event: unknown;
}

export interface DeliveryJob {
  orgId: string;
  integrationId: string;
}

/** What a config's delivery schedule is read from. */
export type ScheduledConfig = { organization_id: string; id: string; sync_frequency: SyncFrequency; extra_config: Record<string, unknown> };

/** When the config's queued runs are next due: its schedule's next slot (`now` for `realtime`, none for `manual`), or a run's retry when sooner. */
function deliveryDue(config: ScheduledConfig, retryAt: Date | null, now: Date): Date | null {
  const zone = config.extra_config['sync_time_zone'];
  const times = [nextSlot(config.sync_frequency, now, typeof zone === 'string' ? zone : undefined), retryAt].filter((time): time is Date => time !== null);
  return times.length > 0 ? new Date(Math.min(...times.map((time) => time.getTime()))) : null;
}

/**
 * When a delivery job is due: an instant (a schedule's slot), or a delay in ms from the database's
 * now(), which pg-boss fetches by. A retry or a wait is a delay: sent as an instant by this
 * process's clock, one that lags the database's would queue a job meant for 2 s later as due
 * already, and find it again at once.
 */
export type DueAt = Date | number;

/**
 * The PostgreSQL job queue (pg-boss, docs/adr/0003-delivery-job-queue.md): started on first use,
 * so an instance that never queues or works starts no pool, and stopped gracefully with the
 * application (active jobs finish; a job whose process died expires and is retried).
 */
@Injectable()
export class JobQueue implements OnApplicationShutdown {
  private readonly logger = new Logger('JobQueue');
  private boss: Promise<PgBoss> | undefined;
  private alertQueueReady: Promise<PgBoss> | undefined;
  private readonly deliveryWorkers: string[] = [];
  private readonly alertWorkers: string[] = [];

  constructor(private readonly config: AppConfig) {}

  /**
   * Queues a delivery of the config's queued runs at `startAfter` (at once without). pg-boss keeps
   * one waiting job per config (`short`) and drops a second send, so the waiting job is brought
   * forward to this time instead: POST …/sync, a retry or a nearer slot is never held behind a
   * later one. Inside `tx` the job commits or rolls back with the change that needs it; the
   * caller then wakes the workers once it has committed (wakeDeliveryWorkers).
   */
  async enqueueDelivery(job: DeliveryJob, startAfter?: DueAt, tx?: Transaction): Promise<void> {
    const boss = await this.started();
    // pg-boss takes a number as seconds from its now(): a delay by the database's clock.
    // (Whole ms: pg-boss writes the number as text, and PostgreSQL reads no exponent in an interval.)
    const due = typeof startAfter === 'number' ? (startAfter > 0 ? { startAfter: Math.ceil(startAfter) / 1000 } : {}) : startAfter ? { startAfter } : {};
    const options = { ...this.deliveryJobOptions(job), ...due, ...(tx ? { db: tx.sqlExecutor() } : {}) };
    // Dropped, and the waiting job gone meanwhile (a worker took it): once more, now that none waits.
    if ((await boss.send(DELIVERY_QUEUE, job, options)) === null && !(await this.moveWaitingDelivery(boss, job, startAfter ?? 'now', 'earlier', tx))) {
      await boss.send(DELIVERY_QUEUE, job, options);
    }
    if (!tx) this.wakeDeliveryWorkers();
  }

  /**
   * Queues the config's delivery for when its schedule sends queued runs (sync_frequency, in
   * `extra_config.sync_time_zone`): at once for `realtime`, the next slot for the others, never
   * for `manual` (POST …/sync does), or at `retryAt` when a run's retry comes sooner. The job is
   * the config's one: a slot fires once, whichever instance works it.
   */
  async scheduleDelivery(config: ScheduledConfig, options: { tx?: Transaction; retryAt?: Date | null; now?: Date } = {}): Promise<void> {
    const now = options.now ?? new Date();
    const at = deliveryDue(config, options.retryAt ?? null, now);
    if (at) await this.enqueueDelivery({ orgId: config.organization_id, integrationId: config.id }, at > now ? at : undefined, options.tx);
  }

  /**
   * The config's schedule changed, or it was enabled or resumed: its waiting job (one not yet due)
   * moves to the schedule's next slot, later too, or to `retryAt` when a run's retry comes sooner;
   * with neither (a manual config, no retry) none waits. A job already due stays: it runs now.
   */
  async rescheduleDelivery(config: ScheduledConfig, retryAt: Date | null, tx?: Transaction, now = new Date()): Promise<void> {
    const job = { orgId: config.organization_id, integrationId: config.id };
    const at = deliveryDue(config, retryAt, now);
    const boss = await this.started();
    const due = at && at > now ? at : 'now';
    const moved = await this.moveWaitingDelivery(boss, job, at ? due : null, 'either way', tx);
    if (!moved && at) await this.enqueueDelivery(job, due === 'now' ? undefined : due, tx);
    else if (!tx) this.wakeDeliveryWorkers();
  }

  /** Lets this instance's delivery workers look for a job now rather than at their next poll. */
  wakeDeliveryWorkers(): void {
    void this.boss?.then((boss) => this.deliveryWorkers.forEach((id) => boss.notifyWorker(id))).catch(() => undefined);
  }

  private deliveryJobOptions(job: DeliveryJob): PgBoss.SendOptions {
    return {
      singletonKey: job.integrationId,
      // A job whose worker died (kill -9, OOM) expires and is handed to another worker; the
      // engine counts attempts itself, so these retries only cover lost workers and outages
      // (backing off: 1 s doubling, about 17 minutes over ten, before the job is given up).
      // Ten expiries at the largest DELIVERY_JOB_TIMEOUT_SECONDS and the backoff take about 10
      // days: within pg-boss's 14-day keep_until, which it never moves on a retry. The engine's
      // own retries (DELIVERY_BACKOFF_BASE_MS) are new jobs, each kept 14 days from its start.
      retryLimit: 10,
      retryDelay: 1,
      retryBackoff: true,
      expireInSeconds: this.config.deliveryJobTimeoutSeconds,
    };
  }

  /**
   * Moves the config's waiting job (pg-boss's own table, as pg-boss 10 lays it out; the delivery
   * spec reads it too) to `at` (`now` by the database's clock, which pg-boss fetches by): only
   * `earlier` than it was, or `either way` when not yet due (null: removed). True when a waiting
   * job was found. `earlier` touches it even when it is sooner already: inside a transaction its
   * row stays locked until the commit, so no worker takes it (fetching skips locked jobs) before
   * the run it is now also for is committed. Its archive date moves with it (pg-boss archives a
   * waiting job `keep_until` past, 14 days after its start by default).
   */
  private async moveWaitingDelivery(boss: PgBoss, job: DeliveryJob, at: DueAt | 'now' | null, direction: 'earlier' | 'either way', tx?: Transaction): Promise<boolean> {
    const db = tx ? tx.sqlExecutor() : boss.getDb();
    const waiting = `name = $1 AND singleton_key = $2 AND state = 'created'`;
    const target = `COALESCE($3::timestamptz, now() + $4::double precision * interval '1 millisecond')`;
    const { rows } =
      at === null
        ? await db.executeSql(`DELETE FROM ${JOB_QUEUE_SCHEMA}.job WHERE ${waiting} AND start_after > now() RETURNING id`, [DELIVERY_QUEUE, job.integrationId])
        : await db.executeSql(
            `UPDATE ${JOB_QUEUE_SCHEMA}.job
             SET start_after = ${direction === 'earlier' ? `LEAST(start_after, ${target})` : target},
                 keep_until = GREATEST(keep_until, ${target} + (keep_until - start_after))
             WHERE ${waiting}${direction === 'earlier' ? '' : ' AND start_after > now()'} RETURNING id`,
            [DELIVERY_QUEUE, job.integrationId, at instanceof Date ? at : null, typeof at === 'number' ? Math.max(0, at) : 0],
          );
    return rows.length > 0;
  }

  /** Runs `handler` on delivery jobs, `concurrency` at a time in this instance. */
  async workDeliveries(concurrency: number, handler: (job: DeliveryJob) => Promise<void>): Promise<void> {
    const boss = await this.started();
    for (let i = 0; i < concurrency; i += 1) {
      this.deliveryWorkers.push(
        await this.workJobs(boss, DELIVERY_QUEUE, 2, handler, (job, err) => this.logger.error({ event: 'delivery_job_failed', config_id: job.integrationId, err })),
      );
    }
  }

  /** This instance's delivery workers take no more jobs (shutdown); the jobs under way go on. */
  stopWorkingDeliveries(): Promise<void> {
    return this.stopWorking(this.deliveryWorkers);
  }

  /**
   * Queues one alert for one endpoint; durable (in PostgreSQL) and retried until its endpoint
   * takes it. Inside `tx`: queued only if the change it reports commits.
   */
  async enqueueAlert(job: AlertJob, tx?: Transaction): Promise<void> {
    const boss = await this.alertQueue();
    await boss.send(ALERT_QUEUE, job, {
      ...(tx ? { db: tx.sqlExecutor() } : {}),
      retryLimit: ALERT_RETRY_LIMIT,
      retryDelay: this.config.alertRetryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: ALERT_JOB_EXPIRY_SECONDS,
      retentionSeconds: alertRetentionSeconds(this.config.alertRetryDelaySeconds),
    });
  }

  /** Runs `handler` on alert jobs in this instance; a handler that throws has its job retried. */
  async workAlerts(concurrency: number, handler: (job: AlertJob) => Promise<void>): Promise<void> {
    const boss = await this.alertQueue();
    for (let i = 0; i < concurrency; i += 1) {
      this.alertWorkers.push(await this.workJobs(boss, ALERT_QUEUE, 2, handler, (job, err) => this.logger.warn({ event: 'alert_job_failed', endpoint_id: job.endpointId, err })));
    }
  }

  /** This instance's alert workers take no more jobs (shutdown); the sends under way go on. */
  stopWorkingAlerts(): Promise<void> {
    return this.stopWorking(this.alertWorkers);
  }

  /** The `workers` (ids) take no more jobs; the jobs under way go on. */
  private async stopWorking(workers: string[]): Promise<void> {
    const boss = await this.boss?.catch(() => undefined);
    for (const id of workers.splice(0)) await boss?.offWork({ id });
  }

  /** The alert queue, created once: `standard`, every alert its own job (`short` would keep one waiting job per queue). */
  private alertQueue(): Promise<PgBoss> {
    this.alertQueueReady ??= this.started().then(async (boss) => {
      await ensureQueue(boss, ALERT_QUEUE, 'standard');
      return boss;
    });
    // A failed set-up is tried again by the next alert, not remembered.
    this.alertQueueReady.catch(() => (this.alertQueueReady = undefined));
    return this.alertQueueReady;
  }

  /**
   * Schedules the retention job (the schedule is one row, upserted by every instance that works
   * it) and runs `handler` on its jobs in this instance. A run cut short (shutdown, expiry) is
   * carried on by the next one.
   */
  async workRetention(handler: () => Promise<void>): Promise<void> {
    const boss = await this.started();
    await ensureQueue(boss, RETENTION_QUEUE);
    await boss.schedule(RETENTION_QUEUE, RETENTION_CRON, {}, { tz: 'UTC', retryLimit: 2, retryDelay: 300, expireInSeconds: RETENTION_JOB_EXPIRY_SECONDS });
    await this.workJobs(boss, RETENTION_QUEUE, 10, handler, (_job, err) => this.logger.error({ event: 'retention_job_failed', err }));
  }

  /** Runs `handler` on the delivery sweep's jobs in this instance, on its cron schedule (one row, upserted by every instance that works it). */
  async workDeliverySweep(handler: () => Promise<void>): Promise<void> {
    const boss = await this.started();
    await ensureQueue(boss, DELIVERY_SWEEP_QUEUE);
    await boss.schedule(DELIVERY_SWEEP_QUEUE, deliverySweepCron(this.config.deliverySweepMinutes), {}, { tz: 'UTC', retryLimit: 1, expireInSeconds: 5 * 60 });
    await this.workJobs(boss, DELIVERY_SWEEP_QUEUE, 10, handler, (_job, err) => this.logger.error({ event: 'delivery_sweep_failed', err }));
  }

  /** The sweep turned off (DELIVERY_SWEEP_MINUTES=0): its cron sends no more jobs that nobody works. */
  async unscheduleDeliverySweep(): Promise<void> {
    const boss = await this.started();
    await boss.unschedule(DELIVERY_SWEEP_QUEUE);
  }

  /** Retention turned off (every RETENTION_*_DAYS 0): no job is sent any more. */
  async unscheduleRetention(): Promise<void> {
    const boss = await this.started();
    await boss.unschedule(RETENTION_QUEUE);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.boss) return;
    const boss = await this.boss.catch(() => undefined);
    // Graceful: no new job is fetched, the active ones finish (up to 30 s), then the pool closes.
    await boss?.stop({ graceful: true, wait: true, timeout: 30_000 });
  }

  /**
   * One worker on `queue`, a job at a time; its id. A handler that throws has its job retried by
   * pg-boss; the error is reported to `onFailure` and kept in the job by its name and message only
   * (never a query's parameters). A worker that finished a job looks for the next at once: pg-boss would otherwise
   * wait out the polling interval after every job; an empty fetch waits.
   */
  private async workJobs<T extends object>(
    boss: PgBoss,
    queue: string,
    pollingIntervalSeconds: number,
    handler: (data: T) => Promise<void>,
    onFailure: (data: T, err: { name?: string; message?: string }) => void,
  ): Promise<string> {
    // Set once work() answers; a job may already run before it does.
    const worker: { id?: string } = {};
    worker.id = await boss.work<T>(queue, { batchSize: 1, pollingIntervalSeconds }, async ([job]) => {
      try {
        await handler(job.data);
      } catch (error) {
        const failure = { name: (error as Error)?.name, message: (error as Error)?.message };
        onFailure(job.data, failure);
        // pg-boss stores what is thrown, every own property (a failed statement's parameters too), as
        // jsonb, in a call nobody awaits: a NUL in it would be an unhandled rejection. Only the words go.
        const stored = new Error(storableText(`${failure.name ?? 'Error'}: ${failure.message ?? String(error)}`));
        stored.stack = stored.message;
        throw stored;
      } finally {
        if (worker.id) boss.notifyWorker(worker.id);
      }
    });
    return worker.id;
  }

  private started(): Promise<PgBoss> {
    if (this.boss) return this.boss;
    const starting = (async () => {
      if (!this.config.databaseUrl) throw new Error('no database URL for the job queue: set DATABASE_URL');
      const boss = new PgBoss({
        connectionString: this.config.databaseUrl,
        schema: JOB_QUEUE_SCHEMA,
        max: 3,
        application_name: 'meander-jobs',
        ...CONNECTION_KEEPALIVE,
        // Expired jobs are found by the maintenance loop: often enough that a lost worker's job
        // moves on within about a third of its timeout (at most pg-boss's default, 2 minutes).
        maintenanceIntervalSeconds: Math.min(MAX_MAINTENANCE_INTERVAL_SECONDS, Math.max(1, Math.ceil(this.config.deliveryJobTimeoutSeconds / 3))),
      });
      // Errors of its background loops (maintenance, polling) are logged, never thrown.
      boss.on('error', (error) => this.logger.error({ err: { name: error.name, message: error.message } }, 'job queue error'));
      try {
        await boss.start();
        await ensureQueue(boss, DELIVERY_QUEUE);
      } catch (error) {
        await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
        throw error;
      }
      return boss;
    })();
    // A failed start (the database away a moment) is tried again by the next use, not remembered:
    // an API-only instance would otherwise refuse every delivery until restarted.
    this.boss = starting;
    starting.catch(() => {
      if (this.boss === starting) this.boss = undefined;
    });
    return starting;
  }
}

/**
 * Creates a queue unless it exists. Instances that start together race in pg-boss's
 * create_queue (it creates a table: one of them dies in a deadlock, or on the queue's key):
 * the loser finds the winner's queue on a look a moment later.
 */
async function ensureQueue(boss: PgBoss, name: string, policy: 'short' | 'standard' = 'short'): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    if (await boss.getQueue(name)) return;
    try {
      return await boss.createQueue(name, { name, policy });
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
