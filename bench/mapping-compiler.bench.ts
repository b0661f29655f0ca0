import { isDeepStrictEqual } from 'node:util';
import { compileMappings } from '../src/export';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../src/integration-types/built-in-types';
import { ACCOUNTING_CODES, BENCH_MAPPINGS, handWritten, makeRecords } from './fixtures';
import { median, timeMs } from './stats';

export interface MappingBenchResult {
  records: number;
  rounds: number;
  compiledMs: number;
  handWrittenMs: number;
  ratio: number;
}

/** The compiled 12-field mapping vs the same mapping written by hand, over the same records. */
export function runMappingCompilerBench(options: { records: number; rounds: number }): MappingBenchResult {
  const records = makeRecords(options.records);
  const compiled = compileMappings(BENCH_MAPPINGS, { sourceFields: EXPENSE_CLAIM_SOURCE_FIELDS, accountingCodeMappings: ACCOUNTING_CODES });
  // Identical output first: a faster wrong answer measures nothing.
  for (const record of records) {
    const a = compiled(record);
    const b = handWritten(record);
    if (!isDeepStrictEqual(a, b)) throw new Error(`outputs differ for ${JSON.stringify(record)}:\n${JSON.stringify(a)}\n${JSON.stringify(b)}`);
  }
  let sink = 0;
  const run = (fn: (r: Record<string, unknown>) => { output: Record<string, unknown> }) => () => {
    for (const record of records) sink += Object.keys(fn(record).output).length;
  };
  const compiledTimes: number[] = [];
  const handTimes: number[] = [];
  // Alternate the two so machine noise hits both alike.
  for (let round = 0; round < options.rounds; round++) {
    handTimes.push(timeMs(run(handWritten)));
    compiledTimes.push(timeMs(run(compiled)));
  }
  if (sink < 0) throw new Error('unreachable');
  const compiledMs = median(compiledTimes);
  const handWrittenMs = median(handTimes);
  return { records: options.records, rounds: options.rounds, compiledMs, handWrittenMs, ratio: compiledMs / handWrittenMs };
}
