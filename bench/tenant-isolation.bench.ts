// One organization's worst-case previews against another organization's reads: the GET p99 of
// organization B while organization A keeps 4 heavy previews in flight (13 long formulas, a
// 1,000-entry lookup, 10,000 records each), against the same GET on the idle service. The
// service and the database run in processes of their own; this process only sends requests.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueToken } from '../src/auth/issue-token';
import { Keyring } from '../src/crypto/keyring';
import { makeRecords } from './fixtures';
import { benchDatabase, benchServiceEnv, start, stop } from './http-scenarios.bench';
import { percentile } from './stats';

export interface IsolationBenchResult {
  database: 'embedded' | 'postgresql';
  previews: number;
  records: number;
  gets: number;
  idleP99Ms: number;
  /** With the mapping worker pool (MAPPING_WORKERS default). */
  loadedP99Ms: number;
  ratio: number;
  /** The same with MAPPING_WORKERS=0: the mapping on the event loop, for contrast. */
  onEventLoopP99Ms: number;
  onEventLoopRatio: number;
  /**
   * GETs of the contrast measurement answered 503: with the event loop blocked for seconds, a new
   * pool connection's 5 s connect timeout fires before its socket's answer is read. Counted, not
   * fatal there; any failed GET with the worker pool fails the benchmark.
   */
  onEventLoopRefused: number;
  onEventLoopGets: number;
  previewsCompleted: number;
}

const NUMERIC = 'round((km_distance * 1.5 + toll_amount * 2 + parking_amount - passenger_count) * 1.01 + expense_amount / 3, 2)';
/** A formula as long as the language allows (1,000 characters): the same term summed. */
function longFormula(): string {
  const terms: string[] = [];
  while ((terms.length + 1) * (NUMERIC.length + 3) < 990) terms.push(NUMERIC);
  return terms.join(' + ');
}

const COMPUTED_SOURCES = [
  'claim_id',
  'organization_id',
  'peer_mentor_id',
  'currency',
  'activity_date',
  'activity_id',
  'description',
  'receipt_url',
  'approved_at',
  'approved_by',
  'cost_center',
  'project_code',
  'parking_amount',
];

export function heavyMappings(): Record<string, unknown>[] {
  const expression = longFormula();
  const lookup = Object.fromEntries(Array.from({ length: 996 }, (_, i) => [`type_${i}`, `CODE-${i}`]));
  for (const type of ['travel_km', 'toll', 'parking', 'meal']) lookup[type] = type.toUpperCase();
  return [
    { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
    { source_field: 'expense_date', target_field: 'TransactionDate', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' }, is_required: true },
    { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
    { source_field: 'expense_type', target_field: 'Kind', transform_type: 'lookup', transform_config: { map: lookup } },
    ...COMPUTED_SOURCES.map((source_field, i) => ({ source_field, target_field: `Formula${i}`, transform_type: 'computed', transform_config: { expression } })),
  ];
}

export async function runTenantIsolationBench(options: { previews: number; records: number; gets: number }): Promise<IsolationBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meander-bench-isolation-'));
  const secret = `bench-only-jwt-secret-${randomBytes(16).toString('hex')}`;
  const children: ChildProcess[] = [];
  try {
    const databaseUrl = await benchDatabase(dataDir, children);
    const env = benchServiceEnv({ databaseUrl, dataDir, secret, keys: Keyring.generateSpec('bench') });
    const body = JSON.stringify({ records: makeRecords(options.records) });
    const measure = async (workers: string | undefined, getsMayFail: boolean) => {
      const service = await start('src/main.ts', [], { ...env, ...(workers === undefined ? {} : { MAPPING_WORKERS: workers }) }, /listening on port (\d+)/);
      children.push(service.child);
      try {
        return await measureOn(`http://127.0.0.1:${service.match[1]}`, secret, body, { ...options, getsMayFail });
      } finally {
        await stop(service.child);
      }
    };
    const pooled = await measure(undefined, false);
    const inline = await measure('0', true);
    return {
      database: process.env.DATABASE_URL ? 'postgresql' : 'embedded',
      previews: options.previews,
      records: options.records,
      gets: options.gets,
      idleP99Ms: pooled.idle,
      loadedP99Ms: pooled.loaded,
      ratio: pooled.loaded / pooled.idle,
      onEventLoopP99Ms: inline.loaded,
      onEventLoopRatio: inline.loaded / inline.idle,
      onEventLoopRefused: inline.refusedGets,
      onEventLoopGets: inline.loadedGets,
      previewsCompleted: pooled.previews,
    };
  } finally {
    for (const child of children.reverse()) await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function measureOn(base: string, secret: string, previewBody: string, options: { previews: number; gets: number; getsMayFail: boolean }) {
  // New organizations each time: the two measurements (and DATABASE_URL runs) share a database.
  const [orgA, orgB] = [randomUUID(), randomUUID()];
  const headersOf = async (org: string) => ({ authorization: `Bearer ${await issueToken({ secret, role: 'org_admin', orgId: org })}`, 'content-type': 'application/json' });
  const [a, b] = [await headersOf(orgA), await headersOf(orgB)];
  const post = async (headers: Record<string, string>, path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  const configA = await post(a, `/v1/organizations/${orgA}/integrations`, { integration_type: 'xledger', display_name: 'Heavy', accounting_code_mappings: { travel_km: '4001' } });
  await post(a, `/v1/organizations/${orgA}/integrations/${configA.id}/field-mappings/bulk`, { items: heavyMappings() });
  const configB = await post(b, `/v1/organizations/${orgB}/integrations`, { integration_type: 'xledger', display_name: 'Quiet' });
  const getB = `${base}/v1/organizations/${orgB}/integrations/${configB.id}`;
  const previewA = `${base}/v1/organizations/${orgA}/integrations/${configA.id}/exports/preview`;

  // `count` GETs, or as many as `seconds` allow (a blocked event loop answers a few per minute).
  // A refused GET counts at the time it took to be refused.
  const gets = async (count: number, seconds = 60, mayFail = false) => {
    const latencies: number[] = [];
    let refused = 0;
    const until = performance.now() + seconds * 1000;
    for (let i = 0; i < count && performance.now() < until; i++) {
      const started = performance.now();
      const res = await fetch(getB, { headers: b });
      await res.arrayBuffer();
      if (res.status !== 200 && !(mayFail && res.status === 503)) throw new Error(`GET answered ${res.status}`);
      if (res.status !== 200) refused++;
      latencies.push(performance.now() - started);
    }
    return { p99: percentile(latencies, 0.99), count: latencies.length, refused };
  };
  await gets(100);
  const idle = (await gets(options.gets)).p99;

  let running = true;
  let previews = 0;
  let refused = 0;
  const previewLoop = async () => {
    while (running) {
      // Overloaded on purpose: with the mapping on the event loop a preview can wait past the
      // pool's 5 s connect timeout (503), or find its keep-alive connection closed by timers that
      // fired late (ECONNRESET). A client backs off and tries again; so does this loop.
      const res = await fetch(previewA, { method: 'POST', headers: a, body: previewBody }).catch((error: Error) => error);
      if (res instanceof Error || res.status === 503) {
        refused++;
        const retryAfter = res instanceof Error ? 1 : Number(res.headers.get('retry-after') ?? 1);
        if (!(res instanceof Error)) await res.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 1000 * retryAfter));
        continue;
      }
      const answer = await res.text();
      if (res.status !== 200) throw new Error(`preview answered ${res.status}: ${answer.slice(0, 300)}`);
      previews++;
    }
  };
  const loops = Array.from({ length: options.previews }, previewLoop);
  // Let the previews reach the service before measuring.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const loaded = await gets(options.gets, 20, options.getsMayFail);
  if (process.env.BENCH_DEBUG) console.error({ idle, loaded, previews, refused });
  running = false;
  await Promise.all(loops);
  return { idle, loaded: loaded.p99, loadedGets: loaded.count, refusedGets: loaded.refused, previews };
}
