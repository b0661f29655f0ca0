import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app.factory';
import { issueToken } from '../src/auth/issue-token';
import { loadAppConfig } from '../src/config/app-config';
import { Keyring } from '../src/crypto/keyring';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { XledgerConnector } from '../src/connectors/xledger/xledger.connector';
import { deliveryRefusalWarnings } from '../src/sync/delivery-refusals';
import { cappedWarnings, compileMappings, runMapping } from '../src/export';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../src/integration-types/built-in-types';
import { ACCOUNTING_CODES, BENCH_MAPPINGS, makeRecords } from './fixtures';
import { median, timeMs, timeMsAsync } from './stats';

export interface PreviewBenchResult {
  database: 'embedded' | 'postgresql';
  records: number;
  requests: number;
  serviceRecordsPerSecond: number;
  baselineRecordsPerSecond: number;
  ratio: number;
  rssMb: number;
}

/**
 * POST …/exports/preview with 10,000 records over HTTP, against the in-process floor of the
 * same work: JSON.parse → compiled mapping → what the Xledger connector would refuse of each row
 * (the preview's delivery_would_refuse warnings) → JSON.stringify of the same body.
 */
export async function runPreviewHttpBench(options: { records: number; requestsPerRound: number; rounds: number }): Promise<PreviewBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meander-bench-'));
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir, maxConnections: 10 });
  const secret = 'bench-only-jwt-secret-0123456789-abcdefghij';
  const config = loadAppConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    AUTH_JWT_SECRET: secret,
    ENCRYPTION_KEYS: Keyring.generateSpec('bench'),
    DATABASE_URL: embedded?.url ?? process.env.DATABASE_URL ?? '',
    DATA_DIR: dataDir,
    // An API-only instance: no delivery workers polling the database beside what is measured.
    DELIVERY_WORKERS: '0',
    // The benchmark is one token flooding on purpose: the abuse limits would measure themselves.
    RATE_LIMIT_READS_PER_MINUTE: '10000000',
    RATE_LIMIT_WRITES_PER_MINUTE: '10000000',
    RATE_LIMIT_PUBLIC_PER_MINUTE: '10000000',
  });
  const app = await createApp({ config });
  await app.listen(0, '127.0.0.1');
  try {
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const org = '5a1e8f4c-2b3d-4c5e-8f9a-0b1c2d3e4f5a';
    const token = await issueToken({ secret, role: 'org_admin', orgId: org });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string };
    };
    const created = await post(`/v1/organizations/${org}/integrations`, { integration_type: 'xledger', display_name: 'Bench', accounting_code_mappings: ACCOUNTING_CODES });
    const path = `/v1/organizations/${org}/integrations/${created.id}`;
    await post(`${path}/field-mappings/bulk`, { items: BENCH_MAPPINGS.map(({ id: _id, version: _v, ...m }) => m) });

    const body = JSON.stringify({ records: makeRecords(options.records) });
    const compiled = compileMappings(BENCH_MAPPINGS, { sourceFields: EXPENSE_CLAIM_SOURCE_FIELDS, accountingCodeMappings: ACCOUNTING_CODES });
    // The check only: it never sends.
    const xledger = new XledgerConnector({ request: () => Promise.reject(new Error('the bench sends nothing')) });
    const baseline = () => {
      for (let i = 0; i < options.requestsPerRound; i++) {
        const outcome = runMapping(compiled, (JSON.parse(body) as { records: unknown[] }).records);
        if (!outcome.ok) throw new Error('the bench records map within bounds');
        const { rows, warnings } = outcome.result;
        JSON.stringify({ ...outcome.result, warnings: cappedWarnings([], warnings, deliveryRefusalWarnings(xledger, rows)) });
      }
    };
    const service = async () => {
      for (let i = 0; i < options.requestsPerRound; i++) {
        const res = await fetch(`${base}${path}/exports/preview`, { method: 'POST', headers, body });
        if (res.status !== 200) throw new Error(`preview answered ${res.status}`);
        await res.arrayBuffer();
      }
    };
    // Warm up both, then alternate rounds.
    baseline();
    await service();
    const serviceMs: number[] = [];
    const baselineMs: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      baselineMs.push(timeMs(baseline));
      serviceMs.push(await timeMsAsync(service));
    }
    const perSecond = (ms: number) => (options.records * options.requestsPerRound) / (ms / 1000);
    const serviceRate = perSecond(median(serviceMs));
    const baselineRate = perSecond(median(baselineMs));
    return {
      database: embedded ? 'embedded' : 'postgresql',
      records: options.records,
      requests: options.requestsPerRound * options.rounds,
      serviceRecordsPerSecond: Math.round(serviceRate),
      baselineRecordsPerSecond: Math.round(baselineRate),
      ratio: serviceRate / baselineRate,
      rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    };
  } finally {
    await app.close();
    await embedded?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
