import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import PgBoss from 'pg-boss';
import { AppConfig } from '../config/app-config';
import type { SyncFrequency } from '../integration-config/integration-config.entity';
import { nextSlot } from '../sync/sync-schedule';

/**
 * The queue of delivery jobs, at most one waiting per config (pg-boss `short`: one `created` job
 * per singleton key). Not `stately`: there a queued job whose key also has an active one fails
 * the whole fetch on a unique index, and every worker of every config waits behind it (pg-boss
 * #535/#536); one attempt per config at a time is the engine's advisory lock instead.
 */
export const DELIVERY_QUEUE = 'meander-deliveries';
/** pg-boss keeps its tables in a schema of its own, created and migrated by its start(). */
export const JOB_QUEUE_SCHEMA = 'pgboss';

export interface DeliveryJob {
  orgId: string;
  integrationId: string;
}

/**
 * The PostgreSQL job queue (pg-boss, docs/adr/0003-delivery-job-queue.md): started on first use,
 * so an instance that never queues or works starts no pool, and stopped gracefully with the
 * application (active jobs finish; a job whose process died expires and is retried).
 */
@Injectable()
export class JobQueue implements OnApplicationShutdown {
  private readonly logger = new Logger('JobQueue');
  private boss: Promise<PgBoss> | undefined;
  private readonly workers: string[] = [];

  constructor(private readonly config: AppConfig) {}

  /** Queues a delivery of the config's queued runs; nothing when one is already waiting for it. */
  async enqueueDelivery(job: DeliveryJob, startAfter?: Date): Promise<void> {
    const boss = await this.started();
    await boss.send(DELIVERY_QUEUE, job, {
      singletonKey: job.integrationId,
      ...(startAfter ? { startAfter } : {}),
      // A job whose worker died (kill -9, OOM) expires and is handed to another worker; the
      // engine counts attempts itself, so these retries only cover lost workers and outages.
      retryLimit: 10,
      retryDelay: 1,
      expireInSeconds: this.config.deliveryJobTimeoutSeconds,
    });
    for (const id of this.workers) boss.notifyWorker(id);
  }

  /**
   * Queues the config's delivery for when its schedule sends queued runs (sync_frequency, in
   * `extra_config.sync_time_zone`): at once for `realtime`, the next slot for the others, never
   * for `manual` (POST …/sync does). The job is the config's one: a slot fires once, whichever
   * instance works it.
   */
  async scheduleDelivery(config: { organization_id: string; id: string; sync_frequency: SyncFrequency; extra_config: Record<string, unknown> }, now = new Date()): Promise<void> {
    const zone = config.extra_config['sync_time_zone'];
    const slot = nextSlot(config.sync_frequency, now, typeof zone === 'string' ? zone : undefined);
    if (slot) await this.enqueueDelivery({ orgId: config.organization_id, integrationId: config.id }, slot > now ? slot : undefined);
  }

  /** Runs `handler` on delivery jobs, `concurrency` at a time in this instance. */
  async workDeliveries(concurrency: number, handler: (job: DeliveryJob) => Promise<void>): Promise<void> {
    const boss = await this.started();
    for (let i = 0; i < concurrency; i += 1) {
      // Set once work() answers; a job may already run before it does.
      const worker: { id?: string } = {};
      worker.id = await boss.work<DeliveryJob>(DELIVERY_QUEUE, { batchSize: 1, pollingIntervalSeconds: 2 }, async ([job]) => {
        try {
          await handler(job.data);
        } catch (error) {
          // pg-boss retries the job; the reason is logged here (its message only: never a query's parameters).
          this.logger.error({ event: 'delivery_job_failed', config_id: job.data.integrationId, err: { name: (error as Error)?.name, message: (error as Error)?.message } });
          throw error;
        } finally {
          // A worker that found a job looks for the next at once: pg-boss would otherwise wait out
          // the polling interval after every job (one job per 2 s per worker); an empty fetch waits.
          if (worker.id) boss.notifyWorker(worker.id);
        }
      });
      this.workers.push(worker.id);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.boss) return;
    const boss = await this.boss.catch(() => undefined);
    // Graceful: no new job is fetched, the active ones finish (up to 30 s), then the pool closes.
    await boss?.stop({ graceful: true, wait: true, timeout: 30_000 });
  }

  private started(): Promise<PgBoss> {
    this.boss ??= (async () => {
      if (!this.config.databaseUrl) throw new Error('no database URL for the job queue');
      const boss = new PgBoss({
        connectionString: this.config.databaseUrl,
        schema: JOB_QUEUE_SCHEMA,
        max: 3,
        application_name: 'meander-jobs',
        // Expired jobs are found by the maintenance loop: often enough that a lost worker's job
        // moves on within about a third of its timeout (at most pg-boss's default, 2 minutes).
        maintenanceIntervalSeconds: Math.min(120, Math.max(1, Math.ceil(this.config.deliveryJobTimeoutSeconds / 3))),
      });
      // Errors of its background loops (maintenance, polling) are logged, never thrown.
      boss.on('error', (error) => this.logger.error({ err: { name: error.name, message: error.message } }, 'job queue error'));
      await boss.start();
      await ensureQueue(boss);
      return boss;
    })();
    return this.boss;
  }
}

/**
 * Creates the delivery queue unless it exists. Instances that start together race in pg-boss's
 * create_queue (it creates a table: one of them dies in a deadlock, or on the queue's key):
 * the loser finds the winner's queue on a look a moment later.
 */
async function ensureQueue(boss: PgBoss): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    if (await boss.getQueue(DELIVERY_QUEUE)) return;
    try {
      return await boss.createQueue(DELIVERY_QUEUE, { name: DELIVERY_QUEUE, policy: 'short' });
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
