import fc from 'fast-check';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../integration-types/built-in-types';
import { compileMappings, coverage, mappingWriteWarnings } from './mapping-compiler';
import { mappingSpec, type MappingSpec } from './mapping-spec';

let nextId = 0;
function mapping(source_field: string, target_field: string, extra: Partial<MappingSpec> = {}): MappingSpec {
  nextId += 1;
  return mappingSpec(`m${nextId}`, nextId, source_field, target_field, extra);
}
const ctx = { sourceFields: EXPENSE_CLAIM_SOURCE_FIELDS, accountingCodeMappings: { travel_km: '4001', toll: '4002' } };

describe('mapping compiler', () => {
  it('applies every transform, in sort order, with defaults after the transform', () => {
    const compiled = compileMappings(
      [
        mapping('expense_date', 'Date', { sort_order: 2, transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' } }),
        mapping('expense_amount', 'Amount', { sort_order: 1, transform_type: 'format', transform_config: { format: '#,##0.00' } }),
        mapping('accounting_code', 'Account', { sort_order: 3, default_value: '4999' }),
        mapping('expense_type', 'Kind', { sort_order: 4, transform_type: 'lookup', transform_config: { map: { travel_km: 'KM' } }, default_value: 'OTHER' }),
        mapping('km_distance', 'Mileage', { sort_order: 5, transform_type: 'computed', transform_config: { expression: 'round(km_distance * 4.5 + toll_amount, 2)' } }),
        mapping('currency', 'Cur', { sort_order: 6, transform_type: 'static', transform_config: { value: 'NOK' } }),
        mapping('passenger_count', 'Pax', { sort_order: 7 }),
        mapping('description', 'Text', { sort_order: 8, source_field_path: 'notes.text' }),
      ],
      ctx,
    );
    const result = compiled({
      expense_date: '2026-11-20',
      expense_amount: 1234.5,
      expense_type: 'travel_km',
      toll_amount: 10,
      expense_line: { km_distance: 100, passenger_count: 2 },
      notes: { text: 'hi' },
      ignored: true,
    });
    expect(result).toEqual({
      output: { Amount: '1,234.50', Date: '20.11.2026', Account: '4001', Kind: 'KM', Mileage: 460, Cur: 'NOK', Pax: 2, Text: 'hi' },
      skipped_reason: null,
      warnings: [],
    });
    expect(Object.keys(result.output)).toEqual(['Amount', 'Date', 'Account', 'Kind', 'Mileage', 'Cur', 'Pax', 'Text']);
    const other = compiled({ expense_type: 'parking', expense_amount: 5, expense_date: '2026-01-01' });
    expect(other.output).toMatchObject({ Account: '4999', Kind: 'OTHER', Mileage: null, Pax: null, Text: null });
  });

  it('skips a record whose required field stays null or empty, naming the first in sort order', () => {
    const compiled = compileMappings([mapping('expense_amount', 'Amount', { is_required: true }), mapping('cost_center', 'CC', { is_required: true })], ctx);
    expect(compiled({ cost_center: 'x' })).toEqual({ output: {}, skipped_reason: 'missing_required_field:Amount', warnings: [] });
    expect(compiled({ expense_amount: 1, cost_center: '' }).skipped_reason).toBe('missing_required_field:CC');
    expect(compiled({ expense_amount: 1, cost_center: 'x' }).skipped_reason).toBeNull();
  });

  it('warns on unusable values and on no active mappings; refuses non-object records', () => {
    const compiled = compileMappings([mapping('expense_date', 'D', { transform_type: 'format', transform_config: { format: 'yyyy' } })], ctx);
    expect(compiled({ expense_date: 'soon' })).toEqual({ output: { D: null }, skipped_reason: null, warnings: ['invalid_date:D'] });
    expect(compileMappings([], ctx)({})).toEqual({ output: {}, skipped_reason: null, warnings: ['no_active_mappings'] });
    for (const bad of [null, 1, 'x', [1]]) expect(compileMappings([], ctx)(bad).skipped_reason).toBe('invalid_record');
  });

  it('formats date-times in the canonical name of their zone: @date-fns/tz keeps a formatter per name it is given, forever', () => {
    // Case variants of one zone (one mapping write each) were one ~30 KB formatter each: 50,000 of them held 1.5 GB.
    const zones: string[] = [];
    const spy = jest.spyOn(Intl, 'DateTimeFormat');
    try {
      for (const variant of ['eUrOpE/oSlO', 'EUROPE/OSLO', 'europe/OSLO']) {
        const compiled = compileMappings([mapping('approved_at', 'At', { transform_type: 'format', transform_config: { format: 'dd.MM.yyyy HH:mm', time_zone: variant } })], ctx);
        spy.mockClear();
        expect(compiled({ approved_at: '2026-07-01T12:00:00Z' })).toEqual({ output: { At: '01.07.2026 14:00' }, skipped_reason: null, warnings: [] });
        zones.push(...spy.mock.calls.map(([, options]) => String(options?.timeZone)));
      }
    } finally {
      spy.mockRestore();
    }
    expect(zones.filter((zone) => zone !== 'Europe/Oslo')).toEqual([]);
  });

  it('a stored zone or pattern date-fns refuses here gives null and invalid_date, never an exception (a 500 for the whole export)', () => {
    // Written where it was valid (a newer Node reads "+05:30"; another date-fns), exported where it is not.
    const compiled = compileMappings(
      [
        mapping('approved_at', 'At', { transform_type: 'format', transform_config: { format: 'yyyy-MM-dd HH:mm', time_zone: 'Not/AZone' } }),
        mapping('expense_date', 'Day', { transform_type: 'format', transform_config: { format: 'yyyy-MM-dd', time_zone: 'Not/AZone' } }),
        mapping('activity_date', 'Week', { transform_type: 'format', transform_config: { format: 'YYYY-ww' } }),
      ],
      ctx,
    );
    expect(compiled({ approved_at: '2026-07-01T12:00:00Z', expense_date: '2026-07-01', activity_date: '2026-07-01' })).toEqual({
      output: { At: null, Day: '2026-07-01', Week: null },
      skipped_reason: null,
      warnings: ['invalid_date:At', 'invalid_date:Week'],
    });
  });

  it('never reads through prototypes', () => {
    const compiled = compileMappings([mapping('description', 'T', { source_field_path: 'constructor_x.name' }), mapping('cost_center', 'C')], ctx);
    const record = Object.create({ cost_center: 'inherited' });
    expect(compiled(record).output).toEqual({ T: null, C: null });
    expect(compiled(JSON.parse('{"__proto__": {"cost_center": "evil"}}')).output).toEqual({ T: null, C: null });
  });

  it('writes a reserved target name (stored before the rule refused it) as an own key: the value never vanishes into a prototype', () => {
    const compiled = compileMappings(
      [
        mapping('cost_center', '__proto__', { sort_order: 0 }),
        mapping('currency', 'constructor', { sort_order: 1 }),
        mapping('description', 'prototype', { sort_order: 2 }),
        mapping('expense_type', 'Kind', { sort_order: 3 }),
      ],
      ctx,
    );
    const { output } = compiled({ cost_center: { polluted: true }, currency: 'NOK', description: 'd', expense_type: 'toll' });
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
    expect(Object.keys(output)).toEqual(['__proto__', 'constructor', 'prototype', 'Kind']);
    expect(Object.getOwnPropertyDescriptor(output, '__proto__')).toEqual({ value: { polluted: true }, writable: true, enumerable: true, configurable: true });
    expect(JSON.stringify(output)).toBe('{"__proto__":{"polluted":true},"constructor":"NOK","prototype":"d","Kind":"toll"}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it("derives accounting_code from the config, and warns when the record's own accounting_code is ignored", () => {
    const compiled = compileMappings(
      [
        mapping('accounting_code', 'Account'),
        mapping('accounting_code', 'Formula', { transform_type: 'computed', transform_config: { expression: 'concat(accounting_code, "-", cost_center)' } }),
        mapping('cost_center', 'Cc'),
        mapping('accounting_code', 'Fixed', { transform_type: 'static', transform_config: { value: 'S' } }),
      ],
      ctx,
    );
    expect(compiled({ expense_type: 'travel_km', accounting_code: '9999', cost_center: 'C1' })).toEqual({
      output: { Account: '4001', Formula: '4001-C1', Cc: 'C1', Fixed: 'S' },
      skipped_reason: null,
      warnings: ['record_accounting_code_ignored:Account', 'record_accounting_code_ignored:Formula'],
    });
    // Not a silent null: the expense type has no code, and the record's own one is not used.
    expect(compiled({ expense_type: 'parking', accounting_code: '9999' })).toMatchObject({
      output: { Account: null },
      warnings: ['record_accounting_code_ignored:Account', 'record_accounting_code_ignored:Formula'],
    });
    expect(compiled({ expense_type: 'travel_km' }).warnings).toEqual([]);
    expect(compiled({ expense_type: 'travel_km', accounting_code: null }).warnings).toEqual([]);
  });

  it('tells a mapping write that uses accounting_code when the config maps no expense type to a code', () => {
    const none = { ...ctx, accountingCodeMappings: {} };
    expect(mappingWriteWarnings(mapping('accounting_code', 'Account'), none)).toEqual(['accounting_code_mappings_empty:Account']);
    expect(mappingWriteWarnings(mapping('accounting_code', 'Account'), { ...ctx, accountingCodeMappings: null })).toEqual(['accounting_code_mappings_empty:Account']);
    const formula = mapping('cost_center', 'F', { transform_type: 'computed', transform_config: { expression: 'concat(accounting_code, cost_center)' } });
    expect(mappingWriteWarnings(formula, none)).toEqual(['accounting_code_mappings_empty:F']);
    expect(mappingWriteWarnings(mapping('accounting_code', 'S', { transform_type: 'static', transform_config: { value: 'x' } }), none)).toEqual([]);
    expect(mappingWriteWarnings(mapping('cost_center', 'C'), none)).toEqual([]);
    expect(mappingWriteWarnings(mapping('accounting_code', 'Account'), ctx)).toEqual([]);
  });

  it('coverage names the missing required targets', () => {
    expect(coverage([{ target_field: 'Amount' }], ['Amount', 'TransactionDate'])).toEqual({ complete: false, missing_target_fields: ['TransactionDate'], warnings: [] });
    expect(coverage([], ['Amount'])).toEqual({ complete: false, missing_target_fields: ['Amount'], warnings: ['no_active_mappings'] });
    // Two active mappings of one target: the later overwrites the other in every row, said once per target.
    expect(coverage([{ target_field: 'Amount' }, { target_field: 'Note' }, { target_field: 'Amount' }, { target_field: 'Amount' }], ['Amount'])).toEqual({
      complete: true,
      missing_target_fields: [],
      warnings: ['duplicate_target_field:Amount'],
    });
  });

  it('property: equals a naive reference resolver on arbitrary records', () => {
    const specs = [
      mapping('expense_amount', 'A', { sort_order: 3, is_required: true }),
      mapping('cost_center', 'B', { sort_order: 1, default_value: 'NONE' }),
      mapping('expense_type', 'C', { sort_order: 2, transform_type: 'lookup', transform_config: { map: { travel_km: '1', toll: '2' } } }),
      mapping('km_distance', 'D', { sort_order: 4 }),
      mapping('accounting_code', 'E', { sort_order: 5, default_value: 'X' }),
    ];
    const compiled = compileMappings(specs, ctx);
    const own = (o: unknown, k: string) => (o !== null && typeof o === 'object' && Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined);
    const reference = (r: Record<string, unknown>) => {
      const blank = (v: unknown) => v === null || v === undefined || v === '';
      const B = blank(own(r, 'cost_center')) ? 'NONE' : own(r, 'cost_center');
      const type = own(r, 'expense_type');
      const C = typeof type === 'string' && (type === 'travel_km' || type === 'toll') ? { travel_km: '1', toll: '2' }[type] : null;
      const A = own(r, 'expense_amount') ?? null;
      const D = own(own(r, 'expense_line'), 'km_distance') ?? null;
      const E = typeof type === 'string' && (type === 'travel_km' || type === 'toll') ? { travel_km: '4001', toll: '4002' }[type] : 'X';
      if (A === null || A === '') return { output: {}, skipped_reason: 'missing_required_field:A', warnings: [] };
      return { output: { B, C, A, D, E }, skipped_reason: null, warnings: [] };
    };
    const value = fc.oneof(fc.constant(null), fc.constant(''), fc.integer(), fc.string(), fc.constantFrom('travel_km', 'toll', 'parking'));
    const record = fc.record(
      {
        expense_amount: value,
        cost_center: value,
        expense_type: value,
        expense_line: fc.oneof(fc.constant(null), fc.record({ km_distance: value }, { requiredKeys: [] })),
        noise: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(record, (r) => expect(compiled(r)).toEqual(reference(r))),
      { numRuns: 2000 },
    );
  });
});
