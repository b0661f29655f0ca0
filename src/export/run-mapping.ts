// Applying an integration's compiled mappings to a batch of records, within a bound on what the
// batch may produce. Runs on the event loop or in a mapping worker. Pure: no Nest imports.
import { compileMappings } from './mapping-compiler';
import type { CompileContext, CompiledMapping, MappingSpec } from './mapping-spec';

/** Per-record warnings beyond this many are summarized: a bad batch must not bloat the answer. */
export const MAX_EXPORT_WARNINGS = 100;
/**
 * The most an export or preview may produce, as JSON text (about): a 30 KB body of 10,000 empty
 * records and 20 static mappings made a 202 MB answer and a 202 MB stored row.
 */
export const MAX_EXPORT_OUTPUT_BYTES = 16 * 1024 * 1024;
const MAX_CLAIM_ID_LENGTH = 255;

export interface ExportRow {
  index: number;
  claim_id: unknown;
  output: Record<string, unknown>;
}

export interface ExportSkip {
  index: number;
  claim_id: unknown;
  reason: string;
}

export interface ExportResult {
  rows: ExportRow[];
  skipped: ExportSkip[];
  warnings: string[];
}

/** What a mapping worker is given: everything to compile the mappings and run them. */
export interface MappingTask {
  specs: MappingSpec[];
  context: CompileContext;
  records: unknown[];
  maxOutputBytes?: number;
}

export type MappingOutcome = { ok: true; result: ExportResult } | { ok: false; reason: 'output_too_large'; limit: number };

export function runMappingTask(task: MappingTask): MappingOutcome {
  return runMapping(compileMappings(task.specs, task.context), task.records, task.maxOutputBytes);
}

/** A record's claim_id as rows and skips echo it: a string or number, else null (never an object). */
function claimIdOf(record: unknown): string | null {
  const value = (record as { claim_id?: unknown } | null)?.claim_id;
  if (typeof value === 'string') return value.length <= MAX_CLAIM_ID_LENGTH ? value : null;
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
}

/**
 * Applies a compiled mapping to every record: rows, skipped records and warnings; stops as soon
 * as the output passes `maxOutputBytes`.
 */
export function runMapping(mapping: CompiledMapping, records: unknown[], maxOutputBytes = MAX_EXPORT_OUTPUT_BYTES): MappingOutcome {
  const rows: ExportRow[] = [];
  const skipped: ExportSkip[] = [];
  const warnings = new Set<string>();
  let dropped = 0;
  // Each row's `{"index":…,"claim_id":…,"output":…}` frame counted as 64 bytes.
  let bytes = 0;
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    const result = mapping(record);
    const claimId = claimIdOf(record);
    bytes += 64 + (claimId?.length ?? 4);
    if (result.skipped_reason) {
      skipped.push({ index, claim_id: claimId, reason: result.skipped_reason });
      bytes += result.skipped_reason.length;
    } else {
      rows.push({ index, claim_id: claimId, output: result.output });
      bytes = jsonBytesWithin(result.output, bytes, maxOutputBytes);
    }
    if (bytes > maxOutputBytes) return { ok: false, reason: 'output_too_large', limit: maxOutputBytes };
    for (const warning of result.warnings) {
      if (warnings.size < MAX_EXPORT_WARNINGS) warnings.add(warning);
      else dropped++;
    }
  }
  const list = [...warnings];
  if (dropped > 0) list.push(`more_warnings_omitted:${dropped}`);
  return { ok: true, result: { rows, skipped, warnings: list } };
}

/**
 * `total` plus about the JSON size of `value` (strings by their length, other scalars as 8
 * bytes, keys and punctuation included); stops walking once past `limit`, so a huge value
 * costs no more than the limit to measure.
 */
export function jsonBytesWithin(value: unknown, total: number, limit: number): number {
  if (total > limit) return total;
  if (typeof value === 'string') return total + value.length + 2;
  if (value === null || typeof value !== 'object') return total + 8;
  if (Array.isArray(value)) {
    let sum = total + 2;
    for (const item of value) {
      sum = jsonBytesWithin(item, sum + 1, limit);
      if (sum > limit) return sum;
    }
    return sum;
  }
  let sum = total + 2;
  for (const key of Object.keys(value)) {
    sum = jsonBytesWithin((value as Record<string, unknown>)[key], sum + key.length + 4, limit);
    if (sum > limit) return sum;
  }
  return sum;
}
