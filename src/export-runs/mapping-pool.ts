import { extname, join } from 'node:path';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import Piscina from 'piscina';
import { RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { runMappingTask, type MappingOutcome, type MappingTask } from '../export';

/** Batches this small are mapped on the event loop: a thread round trip would cost more. */
export const INLINE_RECORDS = 256;
/**
 * ...unless their formulas are heavy: records × characters of the batch's formulas. Formulas at
 * their bounds cost up to ~50 ns per character per record (20 mappings of ~90 comparisons of
 * 1,000-character texts: ~1 ms a record, 250 ms for 255 records on the event loop); this keeps a
 * batch on the event loop to ~10 ms at most.
 */
export const INLINE_FORMULA_WORK = 200_000;

/** The characters of a batch's `computed` formulas, each run once per record. */
function formulaCharacters(task: MappingTask): number {
  let characters = 0;
  for (const spec of task.specs) {
    const expression = spec.transform_type === 'computed' ? (spec.transform_config as { expression?: unknown } | null)?.expression : undefined;
    if (typeof expression === 'string') characters += expression.length;
  }
  return characters;
}

/** Whether a batch is cheap enough for the event loop: few records, and formulas light enough for them. */
function inline(task: MappingTask): boolean {
  return task.records.length < INLINE_RECORDS && task.records.length * formulaCharacters(task) < INLINE_FORMULA_WORK;
}
/** Batches waiting per worker before a new one is refused with 503. */
const QUEUE_PER_WORKER = 16;
/** The share of the waiting room one organization may fill: the rest is always there for the others. */
const ORGANIZATION_SHARE = 4;

// The worker is the compiled mapping-worker.js; from the TypeScript sources (specs, the bench)
// it is loaded through the same swc hook that runs them.
const WORKER_FILE = join(__dirname, '..', 'export', `mapping-worker${extname(__filename)}`);
const WORKER_EXEC_ARGV = extname(__filename) === '.ts' ? ['-r', '@swc-node/register'] : [];

/**
 * Runs the export core over a batch of records in worker threads (piscina), so that one
 * organization's heavy preview (long formulas, 10,000 records) does not hold the event loop
 * every other request waits on. MAPPING_WORKERS=0 maps on the event loop.
 *
 * The workers are shared fairly: batches wait here, not in piscina's first-come queue, and a
 * worker that finishes a batch takes the first waiting batch of another organization, if any, in
 * the order organizations came to wait (each goes to the back once served): an organization that
 * sends many waits behind its own, not the others behind it. One organization may hold a quarter
 * of the waiting room's places, its running batches included; beyond, its batches are refused (503).
 */
@Injectable()
export class MappingPool implements OnApplicationShutdown {
  private readonly pool: Piscina<MappingTask, MappingOutcome> | null;
  private readonly workers: number;
  /** Batches handed to piscina and not yet done: at most one per worker. */
  private running = 0;
  /** Each organization's batches waiting for a worker, in the order organizations take turns. */
  private readonly waiting = new Map<string, (() => void)[]>();
  /** Each organization's batches here, waiting or running. */
  private readonly perOrganization = new Map<string, number>();

  constructor(config: AppConfig) {
    this.workers = config.mappingWorkers;
    this.pool =
      this.workers > 0 ? new Piscina({ filename: WORKER_FILE, execArgv: WORKER_EXEC_ARGV, minThreads: 0, maxThreads: this.workers, idleTimeout: 60_000, name: 'default' }) : null;
  }

  async run(orgId: string, task: MappingTask): Promise<MappingOutcome> {
    if (!this.pool || inline(task)) return runMappingTask(task);
    const room = this.workers * QUEUE_PER_WORKER;
    const mine = this.perOrganization.get(orgId) ?? 0;
    if (mine >= Math.max(1, Math.floor(room / ORGANIZATION_SHARE))) {
      throw new RuleViolation('service_unavailable', "Too many of this organization's exports and previews are being mapped right now; retry shortly.", [], 1);
    }
    if (this.queued >= room) throw new RuleViolation('service_unavailable', 'Too many exports and previews are being mapped right now; retry shortly.', [], 1);
    this.perOrganization.set(orgId, mine + 1);
    try {
      await this.turn(orgId);
      try {
        return await this.pool.run(task);
      } finally {
        this.running -= 1;
        this.next(orgId);
      }
    } finally {
      const left = (this.perOrganization.get(orgId) ?? 1) - 1;
      if (left > 0) this.perOrganization.set(orgId, left);
      else this.perOrganization.delete(orgId);
    }
  }

  /** Batches waiting for a worker. */
  private get queued(): number {
    let count = 0;
    for (const starters of this.waiting.values()) count += starters.length;
    return count;
  }

  /** Resolves when a worker is this batch's: at once if one is free and nobody waits. */
  private turn(orgId: string): Promise<void> {
    if (this.running < this.workers && this.waiting.size === 0) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((start) => {
      const starters = this.waiting.get(orgId);
      if (starters) starters.push(start);
      else this.waiting.set(orgId, [start]);
    });
  }

  /** A worker is free from `servedOrgId`'s batch: another organization's first waiting batch takes it (that one's own if none waits), and goes to the back. */
  private next(servedOrgId: string): void {
    let orgId: string | undefined;
    for (const waiting of this.waiting.keys()) {
      orgId ??= waiting;
      if (waiting !== servedOrgId) {
        orgId = waiting;
        break;
      }
    }
    const starters = orgId === undefined ? undefined : this.waiting.get(orgId);
    if (orgId === undefined || !starters) return;
    const start = starters.shift()!;
    this.waiting.delete(orgId);
    if (starters.length > 0) this.waiting.set(orgId, starters);
    this.running += 1;
    start();
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
