// Nest's two HTTP adapters measured against each other and against plain node:http: the same
// route (global guard, UUID param pipe, JSON body), no database, no logging (bench/adapter-server.ts).
// Tells how much of the service's distance to its raw baseline the adapter alone accounts for.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { load, start, stop } from './http-scenarios.bench';
import { median } from './stats';

const KINDS = ['raw', 'express', 'fastify'] as const;
type Kind = (typeof KINDS)[number];

export interface AdapterBenchResult {
  connections: number;
  roundSeconds: number;
  rounds: number;
  rps: Record<Kind, number>;
  p99Ms: Record<Kind, number>;
  /** Non-2xx answers and errors per server over the measured rounds (should be 0). */
  failed: Record<Kind, number>;
}

export async function runAdapterBench(options: { connections: number; warmupSeconds: number; roundSeconds: number; rounds: number }): Promise<AdapterBenchResult> {
  const children: ChildProcess[] = [];
  try {
    const urls = {} as Record<Kind, string>;
    for (const kind of KINDS) {
      const server = await start('bench/adapter-server.ts', [kind], {}, /listening (\d+)/);
      children.push(server.child);
      urls[kind] = `http://127.0.0.1:${server.match[1]}`;
    }
    const request = { method: 'GET' as const, path: `/v1/things/${randomUUID()}`, headers: { authorization: 'Bearer bench' } };
    for (const kind of KINDS) await load(urls[kind], request, options.connections, options.warmupSeconds);
    const rounds: Record<Kind, Awaited<ReturnType<typeof load>>[]> = { raw: [], express: [], fastify: [] };
    for (let round = 0; round < options.rounds; round++) {
      for (const kind of KINDS) rounds[kind].push(await load(urls[kind], request, options.connections, options.roundSeconds));
    }
    // Reported, not thrown: a smoke run on a busy machine should show a hiccup, not fail CI.
    const failed = Object.fromEntries(KINDS.map((kind) => [kind, rounds[kind].reduce((sum, r) => sum + r.non2xx, 0)])) as Record<Kind, number>;
    const pick = (f: (r: Awaited<ReturnType<typeof load>>) => number) => Object.fromEntries(KINDS.map((kind) => [kind, median(rounds[kind].map(f))])) as Record<Kind, number>;
    return { ...options, rps: pick((r) => Math.round(r.rps)), p99Ms: pick((r) => r.p99), failed };
  } finally {
    for (const child of children.reverse()) await stop(child);
  }
}
