// The benchmark's workload: a 12-field mapping set using every transform type, the records it
// maps, and the same mapping written by hand.
import { randomUUID } from 'node:crypto';
import { formatDateValue, formatNumber, mappingSpec, MAX_EXPRESSION_LENGTH, parseNumberFormat, type MappingSpec } from '../src/export';

export const ACCOUNTING_CODES: Record<string, string> = { travel_km: '4001', toll: '4002', parking: '4003' };

const m = (sort_order: number, source_field: string, target_field: string, extra: Partial<MappingSpec> = {}): MappingSpec =>
  mappingSpec(`bench-${sort_order}`, sort_order, source_field, target_field, extra);

export const BENCH_MAPPINGS: MappingSpec[] = [
  m(0, 'claim_id', 'ClaimId'),
  m(1, 'expense_amount', 'Amount', { transform_type: 'format', transform_config: { format: '0.00' }, is_required: true }),
  m(2, 'expense_date', 'TransactionDate', { transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' }, is_required: true }),
  m(3, 'accounting_code', 'AccountCode', { default_value: '4999', is_required: true }),
  m(4, 'expense_type', 'ExpenseKind', { transform_type: 'lookup', transform_config: { map: { travel_km: 'KM', toll: 'TOLL', parking: 'PARK' } }, default_value: 'OTHER' }),
  m(5, 'km_distance', 'Mileage', { transform_type: 'computed', transform_config: { expression: 'round(km_distance * 4.5 + toll_amount, 2)' } }),
  m(6, 'currency', 'Currency', { transform_type: 'static', transform_config: { value: 'NOK' } }),
  m(7, 'peer_mentor_id', 'EmployeeId', { is_required: true }),
  m(8, 'description', 'Text', { default_value: '-' }),
  m(9, 'passenger_count', 'Passengers'),
  m(10, 'approved_at', 'ApprovedAt', { transform_type: 'format', transform_config: { format: "yyyy-MM-dd'T'HH:mm", time_zone: 'Europe/Oslo' } }),
  m(11, 'cost_center', 'Dim1', { default_value: 'NONE' }),
];

const TYPES = ['travel_km', 'toll', 'parking', 'meal'];

export function makeRecords(count: number): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const day = 1 + (i % 28);
    records.push({
      claim_id: randomUUID(),
      organization_id: '7d3c1b0e-8d1a-4b6e-9a63-2f0c5a4e9b11',
      peer_mentor_id: randomUUID(),
      expense_type: TYPES[i % TYPES.length],
      expense_amount: Math.round(i * 137.31) / 100,
      currency: 'NOK',
      expense_date: `2026-11-${String(day).padStart(2, '0')}`,
      description: i % 3 === 0 ? null : `Trip ${i}`,
      expense_line: { km_distance: i % 5 === 0 ? null : (i % 400) + 0.5, passenger_count: i % 4 },
      toll_amount: i % 2 === 0 ? 12.5 : 0,
      approved_at: i % 6 === 0 ? null : `2026-11-${String(day).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:15:00.000Z`,
      cost_center: i % 7 === 0 ? '' : `CC${i % 10}`,
    });
  }
  return records;
}

const twoDecimals = parseNumberFormat('0.00')!;
const KINDS: Record<string, string> = { travel_km: 'KM', toll: 'TOLL', parking: 'PARK' };
const blank = (v: unknown) => v === null || v === undefined || v === '';

/** The same mapping as BENCH_MAPPINGS, written by hand, with the same formatting helpers. */
export function handWritten(r: Record<string, unknown>): { output: Record<string, unknown>; skipped_reason: string | null; warnings: string[] } {
  const amount = typeof r.expense_amount === 'number' ? formatNumber(r.expense_amount, twoDecimals) : null;
  if (blank(amount)) return { output: {}, skipped_reason: 'missing_required_field:Amount', warnings: [] };
  const date = blank(r.expense_date) ? null : formatDateValue(r.expense_date, 'dd.MM.yyyy', 'date', 'UTC');
  if (blank(date)) return { output: {}, skipped_reason: 'missing_required_field:TransactionDate', warnings: [] };
  const type = r.expense_type as string;
  const line = r.expense_line as { km_distance: number | null; passenger_count: number | null } | undefined;
  const km = line?.km_distance;
  const toll = r.toll_amount;
  let mileage: number | null = null;
  if (typeof km === 'number' && typeof toll === 'number') mileage = Math.round((km * 4.5 + toll) * 100 * (1 + Number.EPSILON)) / 100;
  if (blank(r.peer_mentor_id)) return { output: {}, skipped_reason: 'missing_required_field:EmployeeId', warnings: [] };
  return {
    output: {
      ClaimId: r.claim_id ?? null,
      Amount: amount,
      TransactionDate: date,
      AccountCode: ACCOUNTING_CODES[type] ?? '4999',
      ExpenseKind: KINDS[type] ?? 'OTHER',
      Mileage: mileage,
      Currency: 'NOK',
      EmployeeId: r.peer_mentor_id,
      Text: blank(r.description) ? '-' : r.description,
      Passengers: line?.passenger_count ?? null,
      ApprovedAt: blank(r.approved_at) ? null : formatDateValue(r.approved_at, "yyyy-MM-dd'T'HH:mm", 'datetime', 'Europe/Oslo'),
      Dim1: blank(r.cost_center) ? 'NONE' : r.cost_center,
    },
    skipped_reason: null,
    warnings: [],
  };
}

/**
 * Formulas at the bounds built to be a parser's worst case: chained comparisons (of numbers, of
 * names), 398 unary minuses, 199 `not`s, 23 function pairs. The bench times them; a unit spec
 * checks they compile.
 */
export const WORST_CASE_FORMULAS: readonly string[] = [
  Array.from({ length: 200 }, () => '1').join('<'),
  Array.from({ length: 200 }, () => 'km_distance')
    .join('<')
    .slice(0, MAX_EXPRESSION_LENGTH)
    .replace(/<[a-z_]*$/, ''),
  `${'-'.repeat(398)}1`,
  `${'not '.repeat(199)}(1 < 2)`,
  Array.from({ length: 23 }, () => 'lower(description) < upper(description)').join(' or '),
];
