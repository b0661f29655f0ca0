// npm run bench [-- --quick]: every benchmark as a ratio against a baseline measured in the same
// run (absolute numbers are printed, never asserted: these machines are shared and noisy).
// DATABASE_URL set: the HTTP scenarios run on that PostgreSQL server, else on the embedded one.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { runAdapterBench } from './adapter.bench';
import { runConnectorBench } from './connectors.bench';
import { runDeliveryBench } from './delivery.bench';
import { runHttpScenarioBench } from './http-scenarios.bench';
import { runFormulaCompileBench, runMappingCompilerBench } from './mapping-compiler.bench';
import { runPreviewHttpBench } from './preview-http.bench';
import { runTenantIsolationBench } from './tenant-isolation.bench';

const TARGETS: Record<string, { throughput: number; p99?: number }> = {
  'GET one config (every token verified, both sides)': { throughput: 0.8, p99: 1.5 },
  "GET the organization's configs (3; every token verified, both sides)": { throughput: 0.7 },
  'POST a signed webhook (verify + INSERT)': { throughput: 0.7 },
};

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const started = new Date();
  const mapping = runMappingCompilerBench(quick ? { records: 10_000, rounds: 3 } : { records: 100_000, rounds: 5 });
  const formulas = runFormulaCompileBench(quick ? { repeats: 50, rounds: 3 } : { repeats: 200, rounds: 5 });
  const preview = await runPreviewHttpBench(quick ? { records: 10_000, requestsPerRound: 1, rounds: 3 } : { records: 10_000, requestsPerRound: 3, rounds: 5 });
  const http = await runHttpScenarioBench(
    quick
      ? { connections: 10, warmupSeconds: 1, roundSeconds: 2, rounds: 3, memoryRequestsPerRound: 1_000, withTokenCache: false }
      : { connections: 10, warmupSeconds: 3, roundSeconds: 10, rounds: 3, memoryRequestsPerRound: 34_000, withTokenCache: true },
  );

  const isolation = await runTenantIsolationBench(quick ? { previews: 4, records: 10_000, gets: 100 } : { previews: 4, records: 10_000, gets: 300 });

  const delivery = await runDeliveryBench(
    quick ? { configs: 50, rowsPerConfig: 200, rounds: 1, scheduled: 10_000, due: 10 } : { configs: 50, rowsPerConfig: 200, rounds: 3, scheduled: 10_000, due: 10 },
  );

  const connectors = await runConnectorBench(quick ? { configs: 10, rowsPerConfig: 1_000, rounds: 1 } : { configs: 10, rowsPerConfig: 1_000, rounds: 5 });

  const adapter = await runAdapterBench(
    quick ? { connections: 10, warmupSeconds: 1, roundSeconds: 1, rounds: 3 } : { connections: 10, warmupSeconds: 2, roundSeconds: 5, rounds: 3 },
  );

  const rows: string[][] = [
    [
      'compiled mapping vs hand-written',
      `${mapping.records} records × ${mapping.rounds}`,
      `${mapping.compiledMs.toFixed(0)} ms vs ${mapping.handWrittenMs.toFixed(0)} ms`,
      `${mapping.ratio.toFixed(2)}× time`,
      '≤ 1.5× time',
      mapping.ratio <= 1.5 ? 'yes' : 'NO',
    ],
    [
      "formulas at the bounds built as the parser's worst case vs plain sums of as many tokens",
      `${formulas.formulas} compilations × ${formulas.rounds}`,
      `${formulas.worstMs.toFixed(1)} ms vs ${formulas.plainMs.toFixed(1)} ms`,
      `${formulas.ratio.toFixed(2)}× time`,
      '≤ 3× time (linear)',
      formulas.ratio <= 3 ? 'yes' : 'NO',
    ],
    [
      `export preview over HTTP (${preview.database}) vs in-process`,
      `${preview.records} records × ${preview.requests}`,
      `${preview.serviceRecordsPerSecond} vs ${preview.baselineRecordsPerSecond} records/s`,
      `${preview.ratio.toFixed(2)}× throughput`,
      '≥ 0.7× throughput',
      preview.ratio >= 0.7 ? 'yes' : 'NO',
    ],
  ];
  rows.push(
    [
      `another organization's GET p99 while ${isolation.previews} worst-case previews run (${isolation.database}) vs idle`,
      `${isolation.gets} GETs; previews of ${isolation.records} records, 13 long formulas, a 1,000-entry lookup`,
      `p99 ${isolation.loadedP99Ms.toFixed(1)} vs ${isolation.idleP99Ms.toFixed(1)} ms`,
      `${isolation.ratio.toFixed(2)}× p99`,
      '≤ 3× p99',
      isolation.ratio <= 3 ? 'yes' : 'NO',
    ],
    [
      'the same with MAPPING_WORKERS=0 (mapping on the event loop)',
      `${isolation.gets} GETs or 20 s`,
      `p99 ${isolation.onEventLoopP99Ms.toFixed(1)} ms; ${isolation.onEventLoopRefused} of ${isolation.onEventLoopGets} GETs 503`,
      `${isolation.onEventLoopRatio.toFixed(1)}× p99`,
      'measured (what the pool prevents)',
      '–',
    ],
  );
  for (const [i, model] of delivery.models.entries()) {
    rows.push([
      `delivery engine (job queue, lock, row states, sync runs) vs a plain loop, same sink, 2 workers each${i === 0 ? '' : ' (LAN-fast vendor)'}`,
      `${delivery.rows} rows over ${delivery.configs} configs × ${delivery.rounds}; sink ${model.batchMs} ms per batch of 100`,
      `${model.engineMs} vs ${model.loopMs} ms; engine ${model.overheadMsPerAttempt.toFixed(0)} ms per attempt`,
      `${model.ratio.toFixed(2)}× throughput`,
      i === 0 ? '≥ 0.8× throughput' : 'measured',
      i === 0 ? (model.ratio >= 0.8 ? 'yes' : 'NO') : '–',
    ]);
  }
  rows.push(
    ['queueing for delivery (export with deliver: true vs without)', `${delivery.rows} rows`, `${delivery.enqueueMsPerRow.toFixed(3)} ms per row`, '–', 'measured', '–'],
    [
      `scheduler tick: ${delivery.tick.scheduled} scheduled configs, ${delivery.tick.due} due, vs only the due ones queued`,
      "pg-boss's fetch scan",
      `${delivery.tick.dueReadMs.toFixed(2)} vs ${delivery.tick.emptyReadMs.toFixed(2)} ms; ${delivery.tick.rowsRead} rows read`,
      `${(delivery.tick.dueReadMs / delivery.tick.emptyReadMs).toFixed(2)}× time`,
      `reads only the due (${delivery.tick.due})`,
      delivery.tick.rowsRead === delivery.tick.due ? 'yes' : 'NO',
    ],
  );
  for (const c of connectors) {
    rows.push([
      `${c.vendor === 'xledger' ? 'Xledger' : 'Dataverse'} connector through the service vs a script replaying its requests, to the same local fake`,
      `${c.rows} rows over 10 configs × ${c.serviceRssMb.length} rounds, 2 at a time`,
      `${c.serviceMs} vs ${c.scriptMs} ms; ${c.requestsPer1000Rows.toFixed(1)} requests per 1,000 rows; service CPU ${c.serviceCpuMsPer1000Rows.toFixed(1)} ms per 1,000 rows; service RSS after GC ${c.serviceRssMb.join(' / ')} MB`,
      `${c.ratio.toFixed(2)}× throughput`,
      '≥ 0.8× throughput',
      c.ratio >= 0.8 ? 'yes' : 'NO',
    ]);
    rows.push([
      `${c.vendor === 'xledger' ? 'Xledger' : 'Dataverse'}: the same requests with only the row bookkeeping exactly-once needs (a floor) vs the replay`,
      `the same rows; pending rows read, each batch's rows marked before the next request, no lock, sync run or answer read`,
      `${c.durableMs} vs ${c.scriptMs} ms (the service: ${c.serviceMs} ms)`,
      `${c.durableRatio.toFixed(2)}× throughput`,
      'measured',
      '–',
    ]);
    rows.push([
      `${c.vendor === 'xledger' ? 'Xledger' : 'Dataverse'}: the same requests after only reading each run's pending rows (no write) vs the replay`,
      `the same rows; one SELECT per run, then its requests; nothing recorded`,
      `${c.readMs} vs ${c.scriptMs} ms`,
      `${c.readRatio.toFixed(2)}× throughput`,
      'measured',
      '–',
    ]);
  }
  for (const s of http.scenarios) {
    // Rows without a target are measured for the reader (the service as deployed).
    const target = TARGETS[s.scenario] as (typeof TARGETS)[string] | undefined;
    const met = target ? s.throughputRatio >= target.throughput && (target.p99 === undefined || s.p99Ratio <= target.p99) : undefined;
    rows.push([
      `${s.scenario} (${http.database}) vs raw node:http + pg`,
      `${http.connections} connections, ${http.rounds} × ${http.roundSeconds} s${s.non2xx > 0 ? ` (${s.non2xx} FAILED requests)` : ''}`,
      `${s.serviceRps} vs ${s.baselineRps} req/s; p99 ${s.serviceP99Ms} vs ${s.baselineP99Ms} ms; CPU ${s.serviceCpuMsPerRequest} vs ${s.baselineCpuMsPerRequest} ms/request`,
      `${s.throughputRatio.toFixed(2)}× throughput, ${s.p99Ratio.toFixed(2)}× p99`,
      target ? `≥ ${target.throughput}×${target.p99 ? `, p99 ≤ ${target.p99}×` : ''}` : 'measured',
      met === undefined ? '–' : met ? 'yes' : 'NO',
    ]);
  }
  // Not a target: how much of the distance to the raw baseline the HTTP adapter alone explains.
  for (const kind of ['express', 'fastify'] as const) {
    rows.push([
      `Nest on ${kind} (guard, param pipe, JSON; no database) vs raw node:http`,
      `${adapter.connections} connections, ${adapter.rounds} × ${adapter.roundSeconds} s${adapter.failed[kind] + adapter.failed.raw > 0 ? ` (${adapter.failed[kind] + adapter.failed.raw} FAILED requests)` : ''}`,
      `${adapter.rps[kind]} vs ${adapter.rps.raw} req/s; p99 ${adapter.p99Ms[kind]} vs ${adapter.p99Ms.raw} ms`,
      `${(adapter.rps[kind] / adapter.rps.raw).toFixed(2)}× throughput`,
      kind === 'fastify' ? 'measured (the service runs on it)' : 'measured (what it ran on before)',
      '–',
    ]);
  }
  const [, second, third] = http.memoryRss;
  const growth = (third - second) / second;
  const header = ['scenario', 'work', 'service vs baseline', 'ratio', 'target', 'met'];
  const table = [header, header.map(() => '---'), ...rows];
  const machine = `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`\nMeander benchmarks, ${started.toISOString()} on ${machine}${quick ? ' (quick)' : ''}\n`);
  console.log(table.map((r) => `| ${r.join(' | ')} |`).join('\n'));
  console.log(
    `\nService RSS after ${http.serviceRequests} requests: ${http.serviceRssEndMb} MB; after each of 3 rounds of ${http.memoryRss.length ? 'GETs' : ''}: ${http.memoryRss.join(' / ')} MB ` +
      `(round 2 → 3: ${(growth * 100).toFixed(1)}%, ${growth <= 0.05 ? 'no growth' : 'GROWING'}). Bench process RSS: ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB.`,
  );
  console.log(
    `Delivery bench after each round (collected): RSS ${delivery.rssMb.join(' / ')} MB, heap ${delivery.heapMb.join(' / ')} MB. Scheduler tick plan:\n${delivery.tick.plan}`,
  );
  console.log(`Finished in ${Math.round((Date.now() - started.getTime()) / 1000)} s.`);
  if (!quick) {
    writeFileSync(
      join(__dirname, 'results.json'),
      JSON.stringify({ date: started.toISOString(), machine, mapping, formulas, preview, isolation, http, delivery, connectors, adapter }, null, 2),
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
