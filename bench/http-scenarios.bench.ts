// The service against the raw node:http + pg baseline (bench/raw-baseline.ts) on the same
// database, each in a process of its own, driven by autocannon from this process with the same
// connections, duration and warm-up. Rounds alternate between the two; medians of the rounds.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { issueToken } from '../src/auth/issue-token';
import { DEFAULT_TOKEN_CACHE_SIZE } from '../src/auth/token-verifier';
import { Keyring } from '../src/crypto/keyring';
import { signStandardWebhook } from '../src/webhooks/signatures';
import { median, percentile } from './stats';

const ROOT = join(__dirname, '..');

export interface HttpScenarioResult {
  scenario: string;
  serviceRps: number;
  baselineRps: number;
  throughputRatio: number;
  serviceP99Ms: number;
  baselineP99Ms: number;
  p99Ratio: number;
  /** CPU the server process spent per request (user + system), median of the rounds. */
  serviceCpuMsPerRequest: number;
  baselineCpuMsPerRequest: number;
  non2xx: number;
}

export interface HttpBenchResult {
  database: 'embedded' | 'postgresql';
  connections: number;
  roundSeconds: number;
  rounds: number;
  scenarios: HttpScenarioResult[];
  serviceRequests: number;
  /** RSS of the service process after each round of the GET scenario, and at the end. */
  serviceRssMb: number[];
  serviceRssEndMb: number;
  /** RSS of the service after each of three rounds of memoryRequestsPerRound GETs. */
  memoryRss: number[];
}

interface Options {
  connections: number;
  warmupSeconds: number;
  roundSeconds: number;
  rounds: number;
  memoryRequestsPerRound: number;
  /** Also measure GET one and the list as deployed: the token verdict cache on, on both sides. */
  withTokenCache: boolean;
}

export function start(entry: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, nodeFlags: string[] = []): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [...nodeFlags, '-r', '@swc-node/register', join(ROOT, entry), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match) {
        // From here on its output is drained and dropped, as a log shipper would take it.
        child.stdout?.removeListener('data', onData);
        child.stdout?.resume();
        resolve({ child, match });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}:\n${output}`)));
  });
}

/**
 * The database in a process of its own: the embedded PostgreSQL started by the test helper,
 * with room for two pools of 10, or the PostgreSQL server of DATABASE_URL. Its process joins
 * `children`, to be stopped with them.
 */
/** The service as the benchmarks run it: production mode, logging at info, API-only, abuse limits out of the way. */
export function benchServiceEnv(options: { databaseUrl: string; dataDir: string; secret: string; keys: string }): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: '0',
    DATABASE_URL: options.databaseUrl,
    DATA_DIR: options.dataDir,
    AUTH_JWT_SECRET: options.secret,
    ENCRYPTION_KEYS: options.keys,
    LOG_LEVEL: 'info',
    DATABASE_POOL_SIZE: '10',
    // An API-only instance: no delivery workers polling the database beside what is measured.
    DELIVERY_WORKERS: '0',
    RATE_LIMIT_READS_PER_MINUTE: '10000000',
    RATE_LIMIT_WRITES_PER_MINUTE: '10000000',
    RATE_LIMIT_PUBLIC_PER_MINUTE: '10000000',
  };
}

export async function benchDatabase(dataDir: string, children: ChildProcess[]): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  // mkdtemp's 0700 would keep the server's user (`postgres`, when run as root) out of its cluster.
  chmodSync(dataDir, 0o711);
  const db = await start('test/support/embedded-postgres-process.ts', [join(dataDir, 'db'), '0', '20'], {}, /ready (\S+)\n/);
  children.push(db.child);
  return db.match[1];
}

export function stop(child: ChildProcess | undefined): Promise<void> {
  // Already gone (exited, or killed by a signal: then exitCode stays null): its exit event has fired.
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

/** CPU seconds (user + system) a process has used: /proc/<pid>/stat fields 14 and 15, in clock ticks of 1/100 s. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One round of load with the CPU the server spent on it, per request (robust on a busy machine, where req/s is not). */
async function measuredLoad(url: string, pid: number, request: RequestSpec, connections: number, seconds: number) {
  const before = cpuSeconds(pid);
  const result = await load(url, request, connections, seconds);
  return { ...result, cpuMsPerRequest: ((cpuSeconds(pid) - before) * 1000) / Math.max(result.total, 1) };
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

interface Started {
  url: string;
  pid: number;
}

export type RequestSpec = Pick<autocannon.Request, 'method' | 'path' | 'headers' | 'body' | 'setupRequest'>;

export async function load(url: string, request: RequestSpec, connections: number, seconds: number) {
  // p99 from every 2xx response's own latency: autocannon's histogram counts whole milliseconds,
  // too coarse at 3–4 ms (one step is a third of the value, and of the ratio's target).
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: seconds, requests: [request as autocannon.Request] }, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(ms);
    });
  });
  if (process.env.BENCH_DEBUG) console.error(url, request.path, JSON.stringify(result.statusCodeStats), result.errors, result.timeouts);
  return { rps: result.requests.average, p99: round2(percentile(latencies, 0.99)), total: result.requests.total, non2xx: result.non2xx + result.errors };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export async function runHttpScenarioBench(options: Options): Promise<HttpBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meander-bench-http-'));
  const secret = `bench-only-jwt-secret-${randomBytes(16).toString('hex')}`;
  const keys = Keyring.generateSpec('bench');
  const children: ChildProcess[] = [];
  try {
    const databaseUrl = await benchDatabase(dataDir, children);
    // The target rows verify every request's token on both sides (AUTH_TOKEN_CACHE_SIZE=0, which
    // the baseline reads too): the same JWT cost on both sides, as in every earlier run.
    const env = {
      ...benchServiceEnv({ databaseUrl, dataDir, secret, keys }),
      AUTH_TOKEN_CACHE_SIZE: '0',
      WEBHOOK_RATE_LIMIT_BURST: '1000000',
      WEBHOOK_RATE_LIMIT_PER_SECOND: '1000000',
    };
    // BENCH_CPU_PROF=<dir>: V8 CPU profiles of the service (<dir>/service) and of the baseline
    // (<dir>/baseline), written when they stop, to compare where each spends its time.
    const profile = (side: string) => (process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_CPU_PROF, side)}`] : []);
    const service = await start('src/main.ts', [], env, /listening on port (\d+)/, profile('service'));
    children.push(service.child);
    const serviceUrl = `http://127.0.0.1:${service.match[1]}`;
    const baseline = await start('bench/raw-baseline.ts', [], env, /listening (\d+)/, profile('baseline'));
    children.push(baseline.child);
    const baselineUrl = `http://127.0.0.1:${baseline.match[1]}`;

    // Seed through the service's own API: three configs with mappings and a webhook secret.
    const org = randomUUID();
    const token = await issueToken({ secret, role: 'org_admin', orgId: org, expiresIn: 3600 });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const create = async (body: object) => {
      const res = await fetch(`${serviceUrl}/v1/organizations/${org}/integrations`, { method: 'POST', headers, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`seed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string };
    };
    const webhookSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const xledger = await create({
      integration_type: 'xledger',
      display_name: 'Bench Xledger',
      base_url: 'https://x.example',
      api_key: 'k',
      enabled: true,
      accounting_code_mappings: { travel_km: '4001', toll: '4002' },
      field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate', accounting_code: 'AccountCode' },
    });
    await create({ integration_type: 'dynamics', display_name: 'Bench Dynamics', base_url: 'https://d.example', client_id: 'c', client_secret: 's', tenant_id: 't' });
    const portal = await create({
      integration_type: 'hlf_portal',
      display_name: 'Bench HLF',
      base_url: 'https://h.example',
      client_id: 'c',
      client_secret: 's',
      enabled: true,
      extra_config: { entity_set: 'cr123_expenses', alternate_key: 'cr123_meanderreference', tenant_id: 'hlf.onmicrosoft.com' },
      webhook_secret: webhookSecret,
      webhook_url: 'https://h.example/hooks',
    });

    const payload = Buffer.from(JSON.stringify({ type: 'expense.approved', data: { claim_id: 'c1', amount: 120.5 } }));
    const signed = (req: { headers?: Record<string, string> }) => {
      const id = `msg_${randomBytes(12).toString('hex')}`;
      const timestamp = Math.floor(Date.now() / 1000);
      return {
        ...req,
        headers: {
          ...req.headers,
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': `v1,${signStandardWebhook(webhookSecret, id, timestamp, payload)}`,
        },
      };
    };
    const scenarios: { name: string; request: RequestSpec; rss?: boolean }[] = [
      {
        name: 'GET one config (every token verified, both sides)',
        request: { method: 'GET', path: `/v1/organizations/${org}/integrations/${xledger.id}`, headers: { authorization: headers.authorization } },
        rss: true,
      },
      {
        name: "GET the organization's configs (3; every token verified, both sides)",
        request: { method: 'GET', path: `/v1/organizations/${org}/integrations`, headers: { authorization: headers.authorization } },
      },
      {
        name: 'POST a signed webhook (verify + INSERT)',
        request: { method: 'POST', path: `/v1/webhooks/${portal.id}`, headers: { 'content-type': 'application/json' }, body: payload.toString(), setupRequest: signed as never },
      },
    ];

    const results: HttpScenarioResult[] = [];
    const rss: number[] = [];
    let serviceRequests = 0;
    const measure = async (name: string, request: RequestSpec, serviceSide: Started, baselineSide: Started, recordRss = false) => {
      await load(baselineSide.url, request, options.connections, options.warmupSeconds);
      await load(serviceSide.url, request, options.connections, options.warmupSeconds);
      const serviceRounds: Awaited<ReturnType<typeof measuredLoad>>[] = [];
      const rawRounds: Awaited<ReturnType<typeof measuredLoad>>[] = [];
      for (let round = 0; round < options.rounds; round++) {
        rawRounds.push(await measuredLoad(baselineSide.url, baselineSide.pid, request, options.connections, options.roundSeconds));
        serviceRounds.push(await measuredLoad(serviceSide.url, serviceSide.pid, request, options.connections, options.roundSeconds));
        if (recordRss) rss.push(rssMb(serviceSide.pid));
      }
      serviceRequests += serviceRounds.reduce((sum, r) => sum + r.total, 0);
      const serviceRps = median(serviceRounds.map((r) => r.rps));
      const baselineRps = median(rawRounds.map((r) => r.rps));
      const serviceP99 = median(serviceRounds.map((r) => r.p99));
      const baselineP99 = median(rawRounds.map((r) => r.p99));
      results.push({
        scenario: name,
        serviceRps: Math.round(serviceRps),
        baselineRps: Math.round(baselineRps),
        throughputRatio: serviceRps / baselineRps,
        serviceP99Ms: serviceP99,
        baselineP99Ms: baselineP99,
        p99Ratio: serviceP99 / baselineP99,
        serviceCpuMsPerRequest: round2(median(serviceRounds.map((r) => r.cpuMsPerRequest))),
        baselineCpuMsPerRequest: round2(median(rawRounds.map((r) => r.cpuMsPerRequest))),
        non2xx: [...serviceRounds, ...rawRounds].reduce((sum, r) => sum + r.non2xx, 0),
      });
    };
    const serviceSide = { url: serviceUrl, pid: service.child.pid! };
    const baselineSide = { url: baselineUrl, pid: baseline.child.pid! };
    for (const scenario of scenarios) await measure(scenario.name, scenario.request, serviceSide, baselineSide, scenario.rss);

    // Memory: the GET scenario again, three rounds of a fixed number of requests; RSS after each.
    const memoryRss: number[] = [];
    for (let round = 0; round < 3; round++) {
      const result = await autocannon({
        url: serviceUrl,
        connections: options.connections,
        amount: options.memoryRequestsPerRound,
        requests: [scenarios[0].request as autocannon.Request],
      });
      serviceRequests += result.requests.total;
      memoryRss.push(rssMb(service.child.pid!));
    }
    // What the memory goal is about: the one service process of the target rows.
    const serviceRssEndMb = rssMb(service.child.pid!);
    const primaryRequests = serviceRequests;
    if (options.withTokenCache) {
      // As deployed: a second pair with the token verdict cache on (its default size), both sides.
      for (const child of [service.child, baseline.child]) await stop(child);
      // Set, not left out: a value in the bench's own environment would otherwise reach both sides.
      const cachedEnv = { ...env, AUTH_TOKEN_CACHE_SIZE: String(DEFAULT_TOKEN_CACHE_SIZE) };
      const cachedService = await start('src/main.ts', [], cachedEnv, /listening on port (\d+)/);
      children.push(cachedService.child);
      const cachedBaseline = await start('bench/raw-baseline.ts', [], cachedEnv, /listening (\d+)/);
      children.push(cachedBaseline.child);
      const sides = [cachedService, cachedBaseline].map((side) => ({ url: `http://127.0.0.1:${side.match[1]}`, pid: side.child.pid! }));
      await measure('GET one config (token verdict cache, both sides: as deployed)', scenarios[0].request, sides[0], sides[1]);
      await measure("GET the organization's configs (3; token verdict cache, both sides: as deployed)", scenarios[1].request, sides[0], sides[1]);
    }
    return {
      database: process.env.DATABASE_URL ? 'postgresql' : 'embedded',
      memoryRss,
      connections: options.connections,
      roundSeconds: options.roundSeconds,
      rounds: options.rounds,
      scenarios: results,
      serviceRequests: primaryRequests,
      serviceRssMb: rss,
      serviceRssEndMb,
    };
  } finally {
    for (const child of children.reverse()) await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
