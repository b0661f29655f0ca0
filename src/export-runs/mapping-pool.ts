import { extname, join } from 'node:path';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import Piscina from 'piscina';
import { RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { runMappingTask, type MappingOutcome, type MappingTask } from '../export';

/** Batches this small are mapped on the event loop: a thread round trip would cost more. */
export const INLINE_RECORDS = 256;
/** Batches waiting per worker before a new one is refused with 503. */
const QUEUE_PER_WORKER = 16;

// The worker is the compiled mapping-worker.js; from the TypeScript sources (specs, the bench)
// it is loaded through the same swc hook that runs them.
const WORKER_FILE = join(__dirname, '..', 'export', `mapping-worker${extname(__filename)}`);
const WORKER_EXEC_ARGV = extname(__filename) === '.ts' ? ['-r', '@swc-node/register'] : [];

/**
 * Runs the export core over a batch of records in worker threads (piscina), so that one
 * organization's heavy preview (long formulas, 10,000 records) does not hold the event loop
 * every other request waits on. MAPPING_WORKERS=0 maps on the event loop.
 */
@Injectable()
export class MappingPool implements OnApplicationShutdown {
  private readonly pool: Piscina<MappingTask, MappingOutcome> | null;

  constructor(config: AppConfig) {
    const workers = config.mappingWorkers;
    this.pool =
      workers > 0
        ? new Piscina({
            filename: WORKER_FILE,
            execArgv: WORKER_EXEC_ARGV,
            minThreads: 0,
            maxThreads: workers,
            idleTimeout: 60_000,
            maxQueue: workers * QUEUE_PER_WORKER,
            name: 'default',
          })
        : null;
  }

  async run(task: MappingTask): Promise<MappingOutcome> {
    if (!this.pool || task.records.length < INLINE_RECORDS) return runMappingTask(task);
    if (this.pool.queueSize >= this.pool.options.maxQueue) {
      throw new RuleViolation('service_unavailable', 'Too many exports and previews are being mapped right now; retry shortly.', [], 1);
    }
    return this.pool.run(task);
  }

  /** Batches the worker threads have mapped (for specs and metrics). */
  get completedInWorkers(): number {
    return this.pool?.completed ?? 0;
  }

  // After the HTTP server has drained (Nest runs onModuleDestroy before that): a batch of a
  // request in flight at SIGTERM is finished, not killed.
  async onApplicationShutdown(): Promise<void> {
    await this.pool?.destroy();
  }
}
