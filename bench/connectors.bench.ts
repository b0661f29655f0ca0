// The real connectors against the local vendor fakes: 10,000 rows to each through the service
// (a process of its own: NODE_EXTRA_CA_CERTS trusts the fakes' certificate), against a plain
// script replaying the very requests the service sent, with the same concurrency, to the same fake.
import { request as httpsRequest, Agent } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client } from 'pg';
import { issueToken } from '../src/auth/issue-token';
import { Keyring } from '../src/crypto/keyring';
import { startDataverseFake } from '../test/support/fakes/dataverse-fake';
import { startXledgerFake } from '../test/support/fakes/xledger-fake';
import { testCertificate } from '../test/support/tls';
import { benchDatabase, benchServiceEnv, cpuSeconds, rssMb, start, stop } from './http-scenarios.bench';
import { median } from './stats';

export interface ConnectorBenchRow {
  vendor: 'xledger' | 'dynamics';
  rows: number;
  serviceMs: number;
  scriptMs: number;
  ratio: number;
  /** The same requests with the least bookkeeping exactly-once needs (durableLoop): what any engine keeping row state pays. */
  durableMs: number;
  /** scriptMs / durableMs: the most such an engine can reach here. */
  durableRatio: number;
  /** The same requests after only reading each run's pending rows (readFloor): no write at all, what any engine whose rows wait in PostgreSQL pays. */
  readMs: number;
  /** scriptMs / readMs. */
  readRatio: number;
  /** Requests the service sent per 1,000 delivered rows (Dataverse: token requests included). */
  requestsPer1000Rows: number;
  /** CPU the service process spent per 1,000 rows while delivering (median round; all its threads, the event loop's nearly all of it), against the replay's wall time. */
  serviceCpuMsPer1000Rows: number;
  serviceRssMb: number[];
}

const WORKERS = 2;
const SECRET = 'bench-only-jwt-secret-0123456789-abcdefghij';

interface Captured {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export async function runConnectorBench(options: { configs: number; rowsPerConfig: number; rounds: number }): Promise<ConnectorBenchRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meander-bench-connectors-'));
  const children: ChildProcess[] = [];
  const apiKey = 'bench-xledger-token-0123456789abcdef';
  const xledger = await startXledgerFake({ apiKey });
  const dataverse = await startDataverseFake({
    tenant: 'bench-tenant',
    clientId: 'bench-client',
    clientSecret: 'bench-client-secret-0123456789',
    // ContactId is bound as the lookup it is (…@odata.bind): the fake checks it as Dataverse does.
    lookups: { cr123_expenses: { ContactId: 'contacts' } },
  });
  const { caFile } = await testCertificate();
  const agent = new Agent({ keepAlive: true, ca: readFileSync(caFile, 'utf8') });
  let db: Client | undefined;
  const durableClients: Client[] = [];
  try {
    const databaseUrl = await benchDatabase(dataDir, children);
    const service = await start(
      'src/main.ts',
      [],
      {
        ...benchServiceEnv({ databaseUrl, dataDir, secret: SECRET, keys: Keyring.generateSpec('bench') }),
        DELIVERY_WORKERS: String(WORKERS),
        EGRESS_ALLOW_PRIVATE: 'true',
        DYNAMICS_AUTHORITY_URL: dataverse.authorityUrl,
        NODE_EXTRA_CA_CERTS: caFile,
      },
      /listening on port (\d+)/,
      // --require after the TypeScript hook: the preload is TypeScript too.
      ['--expose-gc', '--require', '@swc-node/register', '--require', join(__dirname, 'gc-on-signal.ts')],
    );
    children.push(service.child);
    const base = `http://127.0.0.1:${service.match[1]}`;
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    for (let i = 0; i < WORKERS; i++) durableClients.push(new Client({ connectionString: databaseUrl }));
    for (const client of durableClients) await client.connect();
    const post = async (token: string, path: string, body: unknown) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string; row_count: number };
    };

    const vendors = [
      {
        vendor: 'xledger' as const,
        config: { integration_type: 'xledger', base_url: xledger.url, api_key: apiKey, accounting_code_mappings: { travel_km: '4001' } },
        mappings: [
          { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
          { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
          { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
          { source_field: 'description', target_field: 'text', default_value: '-' },
        ],
        captured: (from: number): Captured[] => xledger.requests.slice(from).map((r) => ({ method: r.method, path: r.path, headers: r.headers, body: r.rawBody })),
        sent: () => xledger.requests.length,
        // Replayed to a fresh ledger, so the script's requests create as much as the service's did.
        reset: () => xledger.items.clear(),
      },
      {
        vendor: 'dynamics' as const,
        config: {
          integration_type: 'dynamics',
          base_url: dataverse.url,
          client_id: 'bench-client',
          client_secret: 'bench-client-secret-0123456789',
          tenant_id: 'bench-tenant',
          extra_config: { entity_set: 'cr123_expenses', alternate_key: 'cr123_meanderreference' },
        },
        mappings: [
          { source_field: 'expense_amount', target_field: 'ExpenseAmount', is_required: true },
          { source_field: 'expense_date', target_field: 'ExpenseDate', is_required: true },
          { source_field: 'peer_mentor_id', target_field: 'ContactId', is_required: true },
        ],
        captured: (from: number): Captured[] => dataverse.requests.slice(from).map((r) => ({ method: r.method, path: r.path, headers: r.headers, body: r.body })),
        sent: () => dataverse.requests.length,
        // Upserts by alternate key: a replay updates what the service created, as a repeat would.
        reset: () => undefined,
      },
    ];
    const results: ConnectorBenchRow[] = [];
    for (const v of vendors) {
      const configs: { orgId: string; token: string; path: string }[] = [];
      for (let i = 0; i < options.configs; i++) {
        const org = crypto.randomUUID();
        const token = await issueToken({ secret: SECRET, role: 'org_admin', orgId: org });
        const created = await post(token, `/v1/organizations/${org}/integrations`, {
          display_name: `Bench ${v.vendor} ${i}`,
          enabled: true,
          sync_frequency: 'manual',
          ...v.config,
        });
        const path = `/v1/organizations/${org}/integrations/${created.id}`;
        await post(token, `${path}/field-mappings/bulk`, { items: v.mappings });
        configs.push({ orgId: org, token, path });
      }
      const serviceMs: number[] = [];
      const scriptMs: number[] = [];
      const durableMs: number[] = [];
      const readMs: number[] = [];
      const rss: number[] = [];
      const serviceCpuMs: number[] = [];
      let requestsPer1000Rows = 0;
      let rows = 0;
      for (let round = 0; round < options.rounds + 1; round++) {
        const runIds: string[] = [];
        const runs: { orgId: string; id: string }[] = [];
        rows = 0;
        for (const [c, config] of configs.entries()) {
          const records = Array.from({ length: options.rowsPerConfig }, (_, n) => ({
            claim_id: `r${round}-c${c}-${n}`,
            expense_type: 'travel_km',
            expense_amount: 10 + (n % 90) + 0.5,
            expense_date: '2026-11-20',
            peer_mentor_id: `00000000-0000-4000-8000-${String(n % 50).padStart(12, '0')}`,
            description: `Trip ${n}`,
          }));
          const run = await post(config.token, `${config.path}/exports`, { records, deliver: true });
          runIds.push(run.id);
          runs.push({ orgId: config.orgId, id: run.id });
          rows += run.row_count;
        }
        v.reset();
        const mark = v.sent();
        const cpuBefore = cpuSeconds(service.child.pid!);
        const started = performance.now();
        for (const config of configs) await post(config.token, `${config.path}/sync`, {});
        for (;;) {
          const { rows: left } = await db.query(`SELECT count(*)::int AS n FROM export_runs WHERE id = ANY($1) AND status <> 'delivered'`, [runIds]);
          if (left[0].n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const serviceTook = performance.now() - started;
        const serviceCpu = (cpuSeconds(service.child.pid!) - cpuBefore) * 1000;
        const captured = v.captured(mark);
        v.reset();
        const scriptStarted = performance.now();
        await Promise.all(
          Array.from({ length: WORKERS }, async (_, worker) => {
            for (let i = worker; i < captured.length; i += WORKERS) await replay(captured[i], agent, v.vendor === 'xledger' ? xledger.url : dataverse.url);
          }),
        );
        const scriptTook = performance.now() - scriptStarted;

        // The same rows pending again, the same requests once more, with only the bookkeeping exactly-once needs.
        await db.query(`UPDATE export_run_rows SET status = 'pending', external_id = NULL WHERE export_run_id = ANY($1)`, [runIds]);
        const origin = v.vendor === 'xledger' ? xledger.url : dataverse.url;
        const runRequests = runs.map((run) => captured.filter((r) => r.body.includes(run.id)));
        v.reset();
        const readStarted = performance.now();
        for (const request of captured.filter((r) => !runIds.some((id) => r.body.includes(id)))) await replay(request, agent, origin);
        await Promise.all(
          durableClients.map(async (client, worker) => {
            for (let i = worker; i < runs.length; i += WORKERS) await readFloor(client, runs[i], runRequests[i], (request) => replay(request, agent, origin));
          }),
        );
        const readTook = performance.now() - readStarted;
        v.reset();
        const durableStarted = performance.now();
        // Requests that name no run (Dataverse's token requests) go first, as the service's did.
        for (const request of captured.filter((r) => !runIds.some((id) => r.body.includes(id)))) await replay(request, agent, origin);
        await Promise.all(
          durableClients.map(async (client, worker) => {
            for (let i = worker; i < runs.length; i += WORKERS) {
              await durableLoop(client, runs[i], runRequests[i], (request) => replay(request, agent, origin));
            }
          }),
        );
        const durableTook = performance.now() - durableStarted;
        if (round === 0) continue; // warm-up: connections, token caches, JIT
        serviceMs.push(serviceTook);
        scriptMs.push(scriptTook);
        durableMs.push(durableTook);
        readMs.push(readTook);
        serviceCpuMs.push((serviceCpu * 1000) / rows);
        requestsPer1000Rows = (captured.length * 1000) / rows;
        rss.push(await rssAfterGcMb(service.child.pid!));
      }
      const serviceMedian = median(serviceMs);
      const scriptMedian = median(scriptMs);
      const durableMedian = median(durableMs);
      const readMedian = median(readMs);
      results.push({
        vendor: v.vendor,
        rows,
        serviceMs: Math.round(serviceMedian),
        scriptMs: Math.round(scriptMedian),
        ratio: scriptMedian / serviceMedian,
        durableMs: Math.round(durableMedian),
        durableRatio: scriptMedian / durableMedian,
        readMs: Math.round(readMedian),
        readRatio: scriptMedian / readMedian,
        requestsPer1000Rows,
        serviceCpuMsPer1000Rows: median(serviceCpuMs),
        serviceRssMb: rss,
      });
    }
    return results;
  } finally {
    agent.destroy();
    await db?.end();
    for (const client of durableClients) await client.end();
    for (const child of children.reverse()) await stop(child);
    await xledger.close();
    await dataverse.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The service's RSS once it has collected its garbage (bench/gc-on-signal.ts): what it keeps from round to round. */
async function rssAfterGcMb(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, 500));
  return rssMb(pid);
}

/**
 * The least an engine that keeps each row's state does for one run: read its pending rows (with
 * what is sent), then for each request (the run's rows in order, an equal share each) send it and
 * mark its rows delivered by primary key before the next, and settle the run. No lock, no sync run,
 * no answer read: a floor, not an engine.
 */
async function durableLoop(client: Client, run: { orgId: string; id: string }, requests: Captured[], send: (request: Captured) => Promise<void>): Promise<void> {
  const rows = await pendingRows(client, run);
  const perRequest = Math.ceil(rows.length / requests.length);
  for (const [k, request] of requests.entries()) {
    await send(request);
    const indexes = rows.slice(k * perRequest, (k + 1) * perRequest).map((row) => row.index);
    await client.query(`UPDATE export_run_rows SET status = 'delivered' WHERE organization_id = $1 AND export_run_id = $2 AND index = ANY($3) AND status = 'pending'`, [
      run.orgId,
      run.id,
      indexes,
    ]);
  }
  await client.query(`UPDATE export_runs SET status = 'delivered' WHERE organization_id = $1 AND id = $2`, [run.orgId, run.id]);
}

/**
 * Less than any durable engine can do: read the run's pending rows (what is sent is built from
 * them), then send its requests. Nothing written, so nothing would survive a crash.
 */
async function readFloor(client: Client, run: { orgId: string; id: string }, requests: Captured[], send: (request: Captured) => Promise<void>): Promise<void> {
  await pendingRows(client, run);
  for (const request of requests) await send(request);
}

/** A run's pending rows with what is sent of them, in order: what both floors read first. */
async function pendingRows(client: Client, run: { orgId: string; id: string }): Promise<{ index: number; output: unknown }[]> {
  const { rows } = await client.query<{ index: number; output: unknown }>(
    `SELECT index, output FROM export_run_rows WHERE organization_id = $1 AND export_run_id = $2 AND status = 'pending' ORDER BY index`,
    [run.orgId, run.id],
  );
  return rows;
}

/** One captured request sent again as it was: method, path, headers (less the connection's own), body. */
function replay(request: Captured, agent: Agent, origin: string): Promise<void> {
  const url = new URL(request.path, origin);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !['host', 'content-length', 'connection'].includes(name)) headers[name] = value;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: request.method, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`replay answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(request.body);
  });
}
