// The delivery engine against a plain loop: the same rows, the same in-process sink, the same
// concurrency. And what a scheduler tick costs with 10,000 scheduled configs of which 10 are due.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { issueToken } from '../src/auth/issue-token';
import { loadAppConfig } from '../src/config/app-config';
import { Keyring } from '../src/crypto/keyring';
import { DELIVERY_QUEUE, JOB_QUEUE_SCHEMA } from '../src/job-queue/job-queue';
import type { Connector, ConnectorContext, DeliveryRow, RowOutcome } from '../src/sync/connector';
import { ACCOUNTING_CODES, BENCH_MAPPINGS, makeRecords } from './fixtures';
import { benchDatabase, stop } from './http-scenarios.bench';
import { median } from './stats';

export interface DeliveryModelResult {
  /** The sink's time for a batch of 100 rows. */
  batchMs: number;
  engineMs: number;
  loopMs: number;
  ratio: number;
  /** (engine − loop) / attempts per worker: the engine's own cost of one attempt (a run of 200 rows). */
  overheadMsPerAttempt: number;
}

export interface DeliveryBenchResult {
  configs: number;
  rows: number;
  rounds: number;
  /** The target's vendor model first, then a vendor five times faster (measured only). */
  models: DeliveryModelResult[];
  enqueueMsPerRow: number;
  rssMb: number[];
  /** The JS heap in use after each round (after a collection under --expose-gc). */
  heapMb: number[];
  tick: { scheduled: number; due: number; dueReadMs: number; emptyReadMs: number; rowsRead: number; plan: string };
}

const BATCH = 100;
const WORKERS = 2;
/**
 * The vendor's time for one batch: a round trip plus work per row. The target's model, 50 ms +
 * 0.5 ms a row (100 ms for 100 rows), is on the fast side of what Xledger's GraphQL mutations and
 * Dataverse's $batch upserts take over the internet; the second, 20 ms for 100 rows, is a vendor on
 * the same LAN, where the engine's fixed cost per attempt weighs most.
 */
const VENDOR_MODELS = [
  { roundTripMs: 50, perRowMs: 0.5 },
  { roundTripMs: 10, perRowMs: 0.1 },
];

/** A stand-in for a vendor: each batch costs a round trip and serializing the rows, as a real request does. */
class BenchSink implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = BATCH;
  delivered = 0;
  model = VENDOR_MODELS[0];

  async deliver(_context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    JSON.stringify(rows);
    await new Promise((resolve) => setTimeout(resolve, this.model.roundTripMs + this.model.perRowMs * rows.length));
    this.delivered += rows.length;
    return rows.map((row) => ({ index: row.index, status: 'delivered', externalId: null }));
  }
}

export async function runDeliveryBench(options: { configs: number; rowsPerConfig: number; rounds: number; scheduled: number; due: number }): Promise<DeliveryBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meander-bench-delivery-'));
  const children: ChildProcess[] = [];
  const secret = 'bench-only-jwt-secret-0123456789-abcdefghij';
  const sink = new BenchSink();
  try {
    const databaseUrl = await benchDatabase(dataDir, children);
    const config = loadAppConfig({
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      AUTH_JWT_SECRET: secret,
      ENCRYPTION_KEYS: Keyring.generateSpec('bench'),
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      DELIVERY_WORKERS: String(WORKERS),
      RATE_LIMIT_READS_PER_MINUTE: '10000000',
      RATE_LIMIT_WRITES_PER_MINUTE: '10000000',
    });
    const app = await createApp({ config, connectors: [sink] });
    await app.listen(0, '127.0.0.1');
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
      const post = async (token: string, path: string, body: unknown) => {
        const res = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
        return (await res.json()) as { id: string; row_count: number };
      };
      // Manual configs: nothing is sent until POST …/sync, so queueing and delivering are measured apart.
      const configs: { token: string; path: string }[] = [];
      for (let i = 0; i < options.configs; i++) {
        const org = crypto.randomUUID();
        const token = await issueToken({ secret, role: 'org_admin', orgId: org });
        const created = await post(token, `/v1/organizations/${org}/integrations`, {
          integration_type: 'xledger',
          display_name: `Bench ${i}`,
          base_url: 'https://x.example',
          api_key: `bench-key-${i}-0123456789`,
          enabled: true,
          sync_frequency: 'manual',
          accounting_code_mappings: ACCOUNTING_CODES,
        });
        const path = `/v1/organizations/${org}/integrations/${created.id}`;
        await post(token, `${path}/field-mappings/bulk`, { items: BENCH_MAPPINGS.map(({ id: _id, version: _v, ...m }) => m) });
        configs.push({ token, path });
      }
      const records = makeRecords(options.rowsPerConfig).map((r) => ({ ...r, peer_mentor_id: r.peer_mentor_id ?? 'p' }));

      const engineMs: number[][] = VENDOR_MODELS.map(() => []);
      const loopMs: number[][] = VENDOR_MODELS.map(() => []);
      const enqueueMsPerRow: number[] = [];
      const rssMb: number[] = [];
      const heapMb: number[] = [];
      for (let round = 0; round < options.rounds + 1; round++) {
        for (const [m, model] of VENDOR_MODELS.entries()) {
          sink.model = model;
          // Queueing: the export with and without `deliver` (the difference is the queue's cost).
          const serializeStart = performance.now();
          for (const c of configs) await post(c.token, `${c.path}/exports`, { records });
          const serializeMs = performance.now() - serializeStart;
          const queueStart = performance.now();
          const runIds: string[] = [];
          let rows = 0;
          for (const c of configs) {
            const run = await post(c.token, `${c.path}/exports`, { records, deliver: true });
            runIds.push(run.id);
            rows += run.row_count;
          }
          const queueMs = performance.now() - queueStart;

          // The engine: every config's run, through the job queue, two workers.
          const before = sink.delivered;
          const engineStart = performance.now();
          for (const c of configs) await post(c.token, `${c.path}/sync`, {});
          while (sink.delivered - before < rows) await new Promise((resolve) => setTimeout(resolve, 5));
          const engineTook = performance.now() - engineStart;
          for (;;) {
            const { rows: left } = await db.query(`SELECT count(*)::int AS n FROM export_runs WHERE id = ANY($1) AND status <> 'delivered'`, [runIds]);
            if (left[0].n === 0) break;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }

          // The plain loop: the same rows, read once, pushed in the same batches by two loops at once.
          const { rows: stored } = await db.query(`SELECT export_run_id, index, output FROM export_run_rows WHERE export_run_id = ANY($1) ORDER BY export_run_id, index`, [runIds]);
          const byRun = new Map<string, DeliveryRow[]>();
          for (const r of stored)
            byRun.set(r.export_run_id, [...(byRun.get(r.export_run_id) ?? []), { index: r.index, reference: `meander:${r.export_run_id}:${r.index}`, output: r.output }]);
          const batches = [...byRun.values()].flatMap((list) => Array.from({ length: Math.ceil(list.length / BATCH) }, (_, i) => list.slice(i * BATCH, (i + 1) * BATCH)));
          const context = {} as ConnectorContext;
          const loopStart = performance.now();
          await Promise.all(
            Array.from({ length: WORKERS }, async (_, worker) => {
              for (let i = worker; i < batches.length; i += WORKERS) await sink.deliver(context, batches[i]);
            }),
          );
          const loopTook = performance.now() - loopStart;
          if (round === 0) continue; // warm-up
          engineMs[m].push(engineTook);
          loopMs[m].push(loopTook);
          enqueueMsPerRow.push((queueMs - serializeMs) / rows);
        }
        if (round > 0) {
          // Under --expose-gc (npm run bench), collected first: what the round left behind, not what is not yet collected.
          (globalThis as { gc?: () => void }).gc?.();
          rssMb.push(Math.round(process.memoryUsage().rss / 2 ** 20));
          heapMb.push(Math.round(process.memoryUsage().heapUsed / 2 ** 20));
        }
      }
      const tick = await measureSchedulerTick(db, options.scheduled, options.due);
      const attemptsPerWorker = options.configs / WORKERS;
      return {
        configs: options.configs,
        rows: options.configs * options.rowsPerConfig,
        rounds: options.rounds,
        models: VENDOR_MODELS.map((model, m) => {
          const engine = median(engineMs[m]);
          const loop = median(loopMs[m]);
          return {
            batchMs: model.roundTripMs + model.perRowMs * BATCH,
            engineMs: Math.round(engine),
            loopMs: Math.round(loop),
            ratio: loop / engine,
            overheadMsPerAttempt: (engine - loop) / attemptsPerWorker,
          };
        }),
        enqueueMsPerRow: median(enqueueMsPerRow),
        rssMb,
        heapMb,
        tick,
      };
    } finally {
      await db.end();
      await app.close();
    }
  } finally {
    for (const child of children) await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * A scheduler tick is the queue's fetch: pg-boss 10 finds due jobs with `start_after < now()` on
 * its partial index `(name, start_after) WHERE state < 'active'`. 10,000 scheduled configs are
 * 10,000 waiting jobs of a probe queue (the delivery queue's policy); `due` of them are due.
 * The candidate scan of pg-boss's fetchNextJob is timed (in a transaction rolled back, so nothing
 * is taken) against the same scan with only the due jobs queued, and its plan shows what is read.
 */
async function measureSchedulerTick(db: Client, scheduled: number, due: number): Promise<DeliveryBenchResult['tick']> {
  const probe = `${DELIVERY_QUEUE}-tick-probe`;
  const [{ policy }] = (await db.query(`SELECT policy FROM ${JOB_QUEUE_SCHEMA}.queue WHERE name = $1`, [DELIVERY_QUEUE])).rows;
  await db.query(`SELECT ${JOB_QUEUE_SCHEMA}.create_queue($1, $2)`, [probe, JSON.stringify({ policy })]);
  const insert = (count: number, startAfter: string) =>
    db.query(
      `INSERT INTO ${JOB_QUEUE_SCHEMA}.job (name, data, singleton_key, start_after, policy)
       SELECT $1, jsonb_build_object('n', n), gen_random_uuid()::text, ${startAfter}, $2 FROM generate_series(1, $3) AS n`,
      [probe, policy, count],
    );
  const scan = `SELECT id FROM ${JOB_QUEUE_SCHEMA}.job WHERE name = $1 AND state < 'active' AND start_after < now()
                ORDER BY priority DESC, created_on, id LIMIT 1 FOR UPDATE SKIP LOCKED`;
  const timeScan = async () => {
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      await db.query('BEGIN');
      const start = performance.now();
      await db.query(scan, [probe]);
      times.push(performance.now() - start);
      await db.query('ROLLBACK');
    }
    return median(times);
  };
  try {
    await insert(due, `now() - interval '1 second'`);
    await db.query(`ANALYZE ${JOB_QUEUE_SCHEMA}.job`);
    const emptyReadMs = await timeScan();
    await insert(scheduled - due, `now() + interval '1 hour'`);
    await db.query(`ANALYZE ${JOB_QUEUE_SCHEMA}.job`);
    const dueReadMs = await timeScan();
    await db.query('BEGIN');
    const { rows } = await db.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) ${scan}`, [probe]);
    await db.query('ROLLBACK');
    const plan = rows.map((r) => r['QUERY PLAN'] as string).join('\n');
    // What the scan read of the waiting jobs: the row count of its one scan node.
    const rowsRead = Number(/Scan .*\(actual rows=(\d+)/.exec(plan)?.[1] ?? NaN);
    return { scheduled, due, dueReadMs, emptyReadMs, rowsRead, plan };
  } finally {
    await db.query(`SELECT ${JOB_QUEUE_SCHEMA}.delete_queue($1)`, [probe]).catch(() => undefined);
  }
}
