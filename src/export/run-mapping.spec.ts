import { compileMappings } from './mapping-compiler';
import type { MappingSpec } from './mapping-spec';
import { jsonBytesWithin, runMapping } from './run-mapping';

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

describe('jsonBytesWithin', () => {
  it('is about the JSON length, and never under it for strings', () => {
    const value = { a: 'x'.repeat(100), b: [1, 2, { c: null }], d: true };
    const exact = JSON.stringify(value).length;
    const estimate = jsonBytesWithin(value, 0, Number.MAX_SAFE_INTEGER);
    expect(estimate).toBeGreaterThanOrEqual(exact);
    expect(estimate).toBeLessThan(exact * 1.5);
  });

  it('stops walking once past the limit', () => {
    const wide = Array.from({ length: 100_000 }, () => 'x'.repeat(10));
    expect(jsonBytesWithin(wide, 0, 100)).toBeLessThan(200);
  });
});
