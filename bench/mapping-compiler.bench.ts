import { isDeepStrictEqual } from 'node:util';
import { compileFormula, compileMappings } from '../src/export';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../src/integration-types/built-in-types';
import { ACCOUNTING_CODES, BENCH_MAPPINGS, handWritten, makeRecords, WORST_CASE_FORMULAS } from './fixtures';
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

export interface FormulaCompileBenchResult {
  formulas: number;
  rounds: number;
  worstMs: number;
  plainMs: number;
  ratio: number;
}

/**
 * Compiling formulas built to be the parser's worst case at the bounds (chained comparisons, 398
 * unary minuses, 199 `not`s, 23 function pairs) against plain sums of as many tokens: a parser
 * that backtracks or rescans would pay far more on the first. (filtrex took 2–15 ms each.)
 */
export function runFormulaCompileBench(options: { repeats: number; rounds: number }): FormulaCompileBenchResult {
  const names = new Set(EXPENSE_CLAIM_SOURCE_FIELDS.map((f) => f.name));
  const worst = WORST_CASE_FORMULAS;
  // A plain sum of as many tokens as each worst formula: `1+2+1+…`.
  const plain = worst.map((expression) => {
    const tokens = expression.match(/[a-z_]+|\d+|\S/g)!.length;
    return Array.from({ length: Math.ceil(tokens / 2) }, (_, k) => String(1 + (k % 2))).join('+');
  });
  for (const expression of [...worst, ...plain]) if (!compileFormula(expression, names).ok) throw new Error(`does not compile: ${expression.slice(0, 60)}…`);
  let sink = 0;
  const run = (expressions: readonly string[]) => () => {
    for (let k = 0; k < options.repeats; k++) for (const expression of expressions) sink += compileFormula(expression, names).ok ? 1 : 0;
  };
  const worstTimes: number[] = [];
  const plainTimes: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    plainTimes.push(timeMs(run(plain)));
    worstTimes.push(timeMs(run(worst)));
  }
  if (sink < 0) throw new Error('unreachable');
  const worstMs = median(worstTimes);
  const plainMs = median(plainTimes);
  return { formulas: worst.length * options.repeats, rounds: options.rounds, worstMs, plainMs, ratio: worstMs / plainMs };
}
