import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../integration-types/built-in-types';
import { formatDateValue, formatNumber, isNonEmptyLookupMap, isValidDatePattern, parseNumberFormat, requiredFieldHasReliableSource, validateTransformConfig } from './transforms';

const field = (name: string) => EXPENSE_CLAIM_SOURCE_FIELDS.find((f) => f.name === name)!;
const rules = (type: Parameters<typeof validateTransformConfig>[0], config: unknown, source: string) =>
  validateTransformConfig(type, config, field(source), EXPENSE_CLAIM_SOURCE_FIELDS).map((e) => `${e.field}:${e.rule}`);

describe('number formats', () => {
  it.each([
    ['0', 120.5, '121'],
    ['0', -0.4, '0'],
    ['0.00', 120.5, '120.50'],
    ['0.00', 1.005, '1.01'],
    ['0.00', -1.005, '-1.01'],
    ['0.0', 0.05, '0.1'],
    ['#,##0.00', 1234567.891, '1,234,567.89'],
    ['#,##0', -1234567.5, '-1,234,568'],
    ['#,##0.00', 999.999, '1,000.00'],
    // Past 1e15 scaled, rounding must not move the number by a unit of its last place.
    ['0', 3_000_000_000_000_000, '3000000000000000'],
    ['0.0000000000', 300_000, '300000.0000000000'],
    ['#,##0.00', 30_000_000_000_000, '30,000,000,000,000.00'],
    ['0', 2_251_799_813_685_248.5, '2251799813685249'],
    ['0.0000000000', 0.0000000001, '0.0000000001'],
  ])('%s formats %d as %s', (pattern, value, expected) => {
    expect(formatNumber(value, parseNumberFormat(pattern)!)).toBe(expected);
  });

  it('refuses other patterns', () => {
    for (const pattern of ['', '0,00', '#.##', '00', '0.', '# ##0', '0.00000000000']) expect(parseNumberFormat(pattern)).toBeNull();
  });
});

describe('date formats', () => {
  it('prints calendar dates as they are, whatever the time zone', () => {
    expect(formatDateValue('2026-11-20', 'dd.MM.yyyy', 'date', 'America/New_York')).toBe('20.11.2026');
    expect(formatDateValue('2026-02-30', 'dd.MM.yyyy', 'date', 'UTC')).toBeNull();
    expect(formatDateValue('20.11.2026', 'dd.MM.yyyy', 'date', 'UTC')).toBeNull();
    expect(formatDateValue(20261120, 'yyyy', 'date', 'UTC')).toBeNull();
  });

  it('prints dates of the years 0001–0099 as they are (Date.UTC would read 0050 as 1950), and refuses year 0000', () => {
    expect(formatDateValue('0050-03-01', 'dd.MM.yyyy', 'date', 'UTC')).toBe('01.03.0050');
    expect(formatDateValue('0001-01-01', 'yyyy-MM-dd', 'date', 'Europe/Oslo')).toBe('0001-01-01');
    expect(formatDateValue('0096-02-29', 'yyyy-MM-dd', 'date', 'UTC')).toBe('0096-02-29');
    expect(formatDateValue('0099-12-31T23:30:00Z', 'yyyy-MM-dd', 'datetime', 'UTC')).toBe('0099-12-31');
    expect(formatDateValue('0000-01-01', 'yyyy-MM-dd', 'date', 'UTC')).toBeNull();
    expect(formatDateValue('0097-02-29', 'yyyy-MM-dd', 'date', 'UTC')).toBeNull();
  });

  it('converts datetimes into the time zone, across DST', () => {
    // 00:30 UTC on the night Norway moves to summer time (01:00 UTC): still CET, +1.
    expect(formatDateValue('2026-03-29T00:30:00Z', "yyyy-MM-dd'T'HH:mm XXX", 'datetime', 'Europe/Oslo')).toBe('2026-03-29T01:30 +01:00');
    expect(formatDateValue('2026-03-29T01:30:00Z', "yyyy-MM-dd'T'HH:mm XXX", 'datetime', 'Europe/Oslo')).toBe('2026-03-29T03:30 +02:00');
    expect(formatDateValue('2026-11-22T23:30:00.000Z', 'dd.MM.yyyy', 'datetime', 'Europe/Oslo')).toBe('23.11.2026');
    expect(formatDateValue('2026-11-22T23:30:00.000Z', 'dd.MM.yyyy', 'datetime', 'UTC')).toBe('22.11.2026');
    expect(formatDateValue('yesterday', 'dd.MM.yyyy', 'datetime', 'UTC')).toBeNull();
  });

  it('accepts Unicode patterns and refuses the traps', () => {
    for (const ok of ['dd.MM.yyyy', "yyyy-MM-dd'T'HH:mm:ssXXX", 'd MMM yyyy']) expect(isValidDatePattern(ok)).toBe(true);
    for (const bad of ['YYYY-MM-DD', 'DD.MM.yyyy', 'hello', '0.00', "'literal only'", '', 'y'.repeat(101)]) expect(isValidDatePattern(bad)).toBe(false);
  });
});

describe('transform_config_must_match_transform_type', () => {
  it('accepts the documented shapes', () => {
    expect(rules('direct', null, 'expense_amount')).toEqual([]);
    expect(rules('format', { format: 'dd.MM.yyyy', time_zone: 'Europe/Oslo' }, 'expense_date')).toEqual([]);
    expect(rules('format', { format: '#,##0.00' }, 'expense_amount')).toEqual([]);
    expect(rules('format', { format: '0' }, 'passenger_count')).toEqual([]);
    expect(rules('lookup', { map: { travel_km: '4001' } }, 'expense_type')).toEqual([]);
    expect(rules('computed', { expression: 'km_distance * 4.5 + toll_amount' }, 'km_distance')).toEqual([]);
    expect(rules('static', { value: 'NOK' }, 'currency')).toEqual([]);
  });

  it('refuses every other shape', () => {
    const T = 'transform_config_must_match_transform_type';
    expect(rules('direct', {}, 'expense_amount')).toEqual([`transform_config:${T}`]);
    expect(rules('static', { value: 1 }, 'currency')).toEqual([`transform_config:${T}`]);
    expect(rules('static', { value: 'a', x: 1 }, 'currency')).toEqual([`transform_config:${T}`]);
    // Repeated on every row of an export: as long as a default_value at most.
    expect(rules('static', { value: 'v'.repeat(255) }, 'currency')).toEqual([]);
    expect(rules('static', { value: 'v'.repeat(256) }, 'currency')).toEqual([`transform_config:${T}`]);
    expect(rules('lookup', { map: { a: 'v'.repeat(256) } }, 'currency')).toEqual([`transform_config:${T}`]);
    expect(rules('lookup', { map: { a: '1' }, other: 1 }, 'expense_type')).toEqual([`transform_config:${T}`]);
    expect(rules('computed', { expression: '1 +' }, 'expense_amount')).toEqual([`transform_config.expression:${T}`]);
    expect(rules('computed', { expression: 'rate * 2' }, 'expense_amount')).toEqual(['transform_config.expression:source_field_must_exist_in_internal_schema']);
    expect(rules('format', { format: 'dd.MM.yyyy' }, 'expense_amount')).toEqual([`transform_config.format:${T}`]);
    expect(rules('format', { format: '0.00' }, 'expense_date')).toEqual([`transform_config.format:${T}`]);
    expect(rules('format', { format: 'dd.MM.yyyy', time_zone: 'Mars/Olympus' }, 'approved_at')).toEqual([`transform_config.time_zone:${T}`]);
    expect(rules('format', { format: '0.00', time_zone: 'UTC' }, 'expense_amount')).toEqual([`transform_config:${T}`]);
    expect(rules('format', { format: 'dd' }, 'description')).toEqual([`transform_config:${T}`]);
  });

  it('lookup_transform_config_is_non_empty_map', () => {
    expect(isNonEmptyLookupMap({ map: { a: 'b' } })).toBe(true);
    for (const bad of [null, {}, { map: {} }, { map: [] }, { map: { a: 1 } }, { map: 'x' }]) expect(isNonEmptyLookupMap(bad)).toBe(false);
  });
});

describe('required_fields_must_have_default_or_reliable_source', () => {
  const spec = (transform_type: 'direct' | 'format' | 'lookup' | 'computed' | 'static', default_value: string | null = null) => ({
    transform_type,
    default_value,
    is_required: true,
  });
  it('holds for a default, a static value, or a non-null source read directly or formatted', () => {
    expect(requiredFieldHasReliableSource(spec('direct'), field('expense_amount'))).toBe(true);
    expect(requiredFieldHasReliableSource(spec('format'), field('expense_date'))).toBe(true);
    expect(requiredFieldHasReliableSource(spec('static'), field('cost_center'))).toBe(true);
    expect(requiredFieldHasReliableSource(spec('lookup', '4999'), field('expense_type'))).toBe(true);
  });
  it('fails otherwise', () => {
    expect(requiredFieldHasReliableSource(spec('direct'), field('cost_center'))).toBe(false);
    expect(requiredFieldHasReliableSource(spec('lookup'), field('expense_type'))).toBe(false);
    expect(requiredFieldHasReliableSource(spec('computed'), field('expense_amount'))).toBe(false);
    expect(requiredFieldHasReliableSource(spec('direct'), field('accounting_code'))).toBe(false);
  });
});
