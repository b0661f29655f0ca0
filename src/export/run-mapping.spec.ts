import fc from 'fast-check';
import { compileMappings } from './mapping-compiler';
import type { MappingSpec } from './mapping-spec';
import { cappedWarnings, jsonBytesWithin, MAX_EXPORT_OUTPUT_BYTES, MAX_EXPORT_WARNINGS, runMapping } from './run-mapping';

const field = { name: 'currency', type: 'string' as const, non_null: false, path: null };
const staticValue = (value: string): MappingSpec => ({
  id: 'm',
  version: 1,
  source_field: 'currency',
  target_field: 'Currency',
  transform_type: 'static',
  transform_config: { value },
  default_value: null,
  is_required: false,
  source_field_path: null,
  sort_order: 0,
});

describe('runMapping output bound', () => {
  const mapping = compileMappings([staticValue('v'.repeat(200))], { sourceFields: [field], accountingCodeMappings: null });

  it('maps a batch whose output stays within the bound', () => {
    const outcome = runMapping(mapping, [{}, {}], 10_000);
    expect(outcome).toEqual({ ok: true, result: { rows: [0, 1].map((index) => ({ index, claim_id: null, output: { Currency: 'v'.repeat(200) } })), skipped: [], warnings: [] } });
  });

  it('counts the JSON escapes: 1.7M control characters read by 9 mappings are 92 MB of JSON, not 15 MB', () => {
    // A security review's case: the UTF-16 length (9 × 1.7M) passed the 16 MiB bound.
    const fields = Array.from({ length: 9 }, (_, i) => ({ name: `f${i}`, type: 'string' as const, non_null: false, path: 'text' }));
    const specs = fields.map((f, i) => ({
      ...staticValue(''),
      id: `m${i}`,
      source_field: f.name,
      target_field: `T${i}`,
      transform_type: 'direct' as const,
      transform_config: null,
    }));
    const record = { text: '\u0001'.repeat(1_700_000) };
    expect(runMapping(compileMappings(specs, { sourceFields: fields, accountingCodeMappings: null }), [record])).toEqual({
      ok: false,
      reason: 'output_too_large',
      limit: MAX_EXPORT_OUTPUT_BYTES,
    });
    // A claim_id of control characters is counted as its JSON too (6 bytes each, not 1).
    const claims = Array.from({ length: 1000 }, () => ({ claim_id: '\u0001'.repeat(255) }));
    expect(runMapping(compileMappings([], { sourceFields: fields, accountingCodeMappings: null }), claims, 1_000_000).ok).toBe(false);
  });

  it('stops at the first record that takes the output past the bound', () => {
    // ~290 bytes a row: 100 rows fit in 30,000 bytes, 200 do not.
    expect(
      runMapping(
        mapping,
        Array.from({ length: 100 }, () => ({})),
        30_000,
      ).ok,
    ).toBe(true);
    expect(
      runMapping(
        mapping,
        Array.from({ length: 200 }, () => ({})),
        30_000,
      ),
    ).toEqual({ ok: false, reason: 'output_too_large', limit: 30_000 });
  });
});

describe('runMapping warnings cap', () => {
  // One warning a record, the record's own: the cap is what is tested, not the mappings.
  const warnOf = (record: unknown) => ({ output: {}, skipped_reason: null, warnings: [(record as { w: string }).w] });

  it('counts as omitted only warnings not kept, as cappedWarnings does: a repeat of a kept one is no omission', () => {
    const distinct = Array.from({ length: 150 }, (_, i) => `formula_error:F${i}`);
    // After the cap is full: 30 repeats of kept warnings (not omitted), then an omitted one twice more (two more omissions).
    const sent = [...distinct, ...distinct.slice(0, 30), 'formula_error:F120', 'formula_error:F120'];
    const outcome = runMapping(
      warnOf,
      sent.map((w) => ({ w })),
    );
    expect(outcome.ok && outcome.result.warnings).toEqual([...distinct.slice(0, MAX_EXPORT_WARNINGS), 'more_warnings_omitted:52']);
    expect(outcome.ok && outcome.result.warnings).toEqual(cappedWarnings(sent));
  });
});

describe('jsonBytesWithin', () => {
  const utf8JsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

  it('is the UTF-8 JSON size: escapes, multi-byte characters and surrogates counted as JSON.stringify writes them', () => {
    const value = { a: 'x'.repeat(100), b: [1, 2, { c: null }], d: true, e: -12.5e-7, f: 1e21, g: -0, h: 123456789 };
    expect(jsonBytesWithin(value, 0, Number.MAX_SAFE_INTEGER)).toBe(utf8JsonBytes(value));
    for (const text of ['\u0001'.repeat(1000), '"\\\n\t\b\f\r\u001f\u007f', 'æøå€\u2028', '😀😀', '\ud800x\udc00', 'a\ud83d']) {
      expect({ text, bytes: jsonBytesWithin(text, 0, Number.MAX_SAFE_INTEGER) }).toEqual({ text, bytes: utf8JsonBytes(text) });
      expect(jsonBytesWithin({ [text]: text }, 0, Number.MAX_SAFE_INTEGER)).toBe(utf8JsonBytes({ [text]: text }));
    }
  });

  it('property: equals the UTF-8 length of JSON.stringify for any JSON value, any UTF-16 text', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: fc.integer({ min: 0, max: 0x3f }).map((c) => String.fromCharCode(c)) }),
    );
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, text, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('value')), fc.dictionary(text, tie('value'))),
    })).value;
    fc.assert(
      fc.property(json, (value) => expect(jsonBytesWithin(value, 0, Number.MAX_SAFE_INTEGER)).toBe(utf8JsonBytes(value))),
      { numRuns: 2000 },
    );
  });

  it('stops walking once past the limit', () => {
    const wide = Array.from({ length: 100_000 }, () => 'x'.repeat(10));
    expect(jsonBytesWithin(wide, 0, 100)).toBeLessThan(200);
    // Within a string too: one that cannot fit even at a byte a character is not scanned, and a scan stops once past.
    const escapes = '\u0001'.repeat(1_000_000);
    expect(jsonBytesWithin(escapes, 0, 100)).toBe(1_000_002);
    expect(jsonBytesWithin(escapes, 0, 2_000_000)).toBeLessThan(2_000_010);
  });
});

describe('cappedWarnings', () => {
  const many = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}:${i}`);

  it('keeps lists under the cap as they are, in order, de-duplicated', () => {
    expect(cappedWarnings(['missing_target_field:AccountCode'], ['formula_error:Amount'], ['formula_error:Amount', 'delivery_would_refuse:3:x'])).toEqual([
      'missing_target_field:AccountCode',
      'formula_error:Amount',
      'delivery_would_refuse:3:x',
    ]);
    expect(cappedWarnings([], [])).toEqual([]);
  });

  it('keeps the first 100 and counts the rest in one more_warnings_omitted, adding the counts the lists carried', () => {
    const mapped = [...many('formula_error', MAX_EXPORT_WARNINGS), 'more_warnings_omitted:7'];
    const merged = cappedWarnings(['missing_target_field:AccountCode'], mapped, many('delivery_would_refuse', 10_000));
    expect(merged).toHaveLength(MAX_EXPORT_WARNINGS + 1);
    expect(merged[0]).toBe('missing_target_field:AccountCode');
    expect(merged[MAX_EXPORT_WARNINGS - 1]).toBe('formula_error:98');
    // formula_error:99, the 7 already omitted, and the 10,000 refusals.
    expect(merged[MAX_EXPORT_WARNINGS]).toBe('more_warnings_omitted:10008');
    // Merged again (a run read back and merged): the count carries over, nothing is counted twice.
    expect(cappedWarnings(merged)).toEqual(merged);
  });
});
