// Applying an integration's compiled mappings to a batch of records, within a bound on what the
// batch may produce. Runs on the event loop or in a mapping worker. Pure: no Nest imports.
import { compileMappings } from './mapping-compiler';
import type { CompileContext, CompiledMapping, MappingSpec } from './mapping-spec';

/** Per-record warnings beyond this many are summarized: a bad batch must not bloat the answer. */
export const MAX_EXPORT_WARNINGS = 100;
/** The longest warning (or skip reason) an answer holds: its schema's maxLength. */
export const MAX_WARNING_LENGTH = 300;
/**
 * The most an export or preview may produce, as UTF-8 JSON text (escapes counted: one \u0001
 * character is 6 bytes): a 30 KB body of 10,000 empty records and 20 static mappings made a
 * 202 MB answer and a 202 MB stored row.
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
  const warnings = new WarningCap();
  // Each row's `{"index":…,"claim_id":…,"output":…}` frame counted as 64 bytes.
  let bytes = 0;
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    const result = mapping(record);
    const claimId = claimIdOf(record);
    bytes = jsonBytesWithin(claimId, bytes + 64, maxOutputBytes);
    if (result.skipped_reason) {
      skipped.push({ index, claim_id: claimId, reason: result.skipped_reason });
      bytes = jsonBytesWithin(result.skipped_reason, bytes, maxOutputBytes);
    } else {
      rows.push({ index, claim_id: claimId, output: result.output });
      bytes = jsonBytesWithin(result.output, bytes, maxOutputBytes);
    }
    if (bytes > maxOutputBytes) return { ok: false, reason: 'output_too_large', limit: maxOutputBytes };
    for (const warning of result.warnings) warnings.add(warning);
  }
  return { ok: true, result: { rows, skipped, warnings: warnings.list() } };
}

/** The last warning of a capped list: how many more there were. */
const MORE_WARNINGS_OMITTED = 'more_warnings_omitted:';

/**
 * Warnings under the cap, in order and de-duplicated: the first MAX_EXPORT_WARNINGS kept, the rest
 * counted in one `more_warnings_omitted:<n>` (a repeat of a kept warning is no omission), which
 * adds up the counts of lists capped before.
 */
class WarningCap {
  private readonly kept = new Set<string>();
  private omitted = 0;

  add(warning: string): void {
    if (warning.startsWith(MORE_WARNINGS_OMITTED)) this.omitted += Number(warning.slice(MORE_WARNINGS_OMITTED.length)) || 0;
    else if (this.kept.size < MAX_EXPORT_WARNINGS) this.kept.add(warning);
    else if (!this.kept.has(warning)) this.omitted++;
  }

  list(): string[] {
    const list = [...this.kept];
    if (this.omitted > 0) list.push(`${MORE_WARNINGS_OMITTED}${this.omitted}`);
    return list;
  }
}

/** Warning lists (capped ones among them) as one list under the same cap (WarningCap). */
export function cappedWarnings(...lists: readonly string[][]): string[] {
  const cap = new WarningCap();
  for (const list of lists) for (const warning of list) cap.add(warning);
  return cap.list();
}

/**
 * `total` plus the size of `value` as UTF-8 JSON text (`JSON.stringify`'s, for JSON values);
 * stops walking once past `limit`, so a huge value costs no more than the limit to measure.
 * Allocation-free: strings are measured by a scan of their char codes, not by serializing them.
 */
export function jsonBytesWithin(value: unknown, total: number, limit: number): number {
  if (total > limit) return total;
  if (typeof value === 'string') return jsonStringBytesWithin(value, total, limit);
  if (typeof value === 'number') return total + numberJsonLength(value);
  if (typeof value === 'boolean') return total + (value ? 4 : 5);
  if (value === null || typeof value !== 'object') return total + 4;
  if (Array.isArray(value)) {
    let sum = total + 2;
    for (let i = 0; i < value.length; i++) {
      sum = jsonBytesWithin(value[i], i > 0 ? sum + 1 : sum, limit);
      if (sum > limit) return sum;
    }
    return sum;
  }
  const keys = Object.keys(value);
  let sum = total + 2;
  for (let i = 0; i < keys.length; i++) {
    // "key": and a comma before every key but the first.
    sum = jsonStringBytesWithin(keys[i], i > 0 ? sum + 2 : sum + 1, limit);
    sum = jsonBytesWithin((value as Record<string, unknown>)[keys[i]], sum, limit);
    if (sum > limit) return sum;
  }
  return sum;
}

/**
 * `total` plus the UTF-8 bytes of `text` as a JSON string, quotes included: `"` and `\\` and
 * \b \f \n \r \t are 2 bytes, other control characters 6 (\u0001), U+0080–U+07FF 2, a surrogate
 * pair 4, a lone surrogate 6 (\ud800), the rest of the BMP 3. Stops once past `limit`.
 */
function jsonStringBytesWithin(text: string, total: number, limit: number): number {
  let sum = total + 2 + text.length;
  // Every character is at least one byte: a string that cannot fit needs no scan.
  if (sum > limit) return sum;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code < 0x7f) {
      if (code === 0x22 || code === 0x5c) sum += 1;
      continue;
    }
    if (code < 0x20) sum += code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 1 : 5;
    else if (code < 0x80) continue;
    else if (code < 0x800) sum += 1;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A pair: two units, four bytes.
      sum += 2;
      i++;
    } else if (code >= 0xd800 && code <= 0xdfff) sum += 5;
    else sum += 2;
    if (sum > limit) return sum;
  }
  return sum;
}

/** The length of a number's JSON text (`null` when not finite), counted without formatting it when it is an integer. */
function numberJsonLength(value: number): number {
  if (!Number.isFinite(value)) return 4;
  if (Number.isInteger(value) && Math.abs(value) < 1e21) {
    let length = value < 0 ? 2 : 1;
    for (let rest = Math.abs(value); rest >= 10; rest = Math.floor(rest / 10)) length++;
    return length;
  }
  return String(value).length;
}
