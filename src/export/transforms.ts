// Transform configs (write-time rules) and the format transforms (run time). Pure: no Nest.
import { TZDate } from '@date-fns/tz';
import { format as formatDate } from 'date-fns';
import { utcCalendarDate } from '../common/calendar-date';
import { canonicalTimeZone, isTimeZone, MAX_TIME_ZONE_LENGTH } from '../common/time-zone';
import type { SourceFieldDefinition } from '../integration-types/integration-type';
import { compileFormula } from './expression';
import type { MappingSpec, RuleError, TransformType } from './mapping-spec';
import { scaledHalfAwayFromZero } from './rounding';

// The zone rule is the schedules' too (src/common/time-zone.ts).
export { canonicalTimeZone, MAX_TIME_ZONE_LENGTH };

export const MAX_FORMAT_LENGTH = 100;
export const MAX_LOOKUP_ENTRIES = 1000;
/**
 * Lookup results and static values: strings an accounting system stores, not documents, as long
 * as a default_value at most. Repeated on every row: 20 static values of 1,000 characters over
 * 10,000 records made a 202 MB export.
 */
export const MAX_TRANSFORM_VALUE_LENGTH = 255;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const hasExactKeys = (v: Record<string, unknown>, required: string[], optional: string[] = []) =>
  required.every((k) => Object.hasOwn(v, k)) && Object.keys(v).every((k) => required.includes(k) || optional.includes(k));

/** `lookup_transform_config_is_non_empty_map`: `{ map: { key: "string", … } }`, at least one entry. */
export function isNonEmptyLookupMap(config: unknown): boolean {
  if (!isObject(config) || !isObject(config.map)) return false;
  const entries = Object.entries(config.map);
  return entries.length > 0 && entries.length <= MAX_LOOKUP_ENTRIES && entries.every(([, v]) => typeof v === 'string' && v.length <= MAX_TRANSFORM_VALUE_LENGTH);
}

// --- number patterns: `0`, `0.00`, `#,##0`, `#,##0.00` ---

const NUMBER_PATTERN = /^(#,##0|0)(?:\.(0{1,10}))?$/;

export interface NumberFormat {
  grouping: boolean;
  decimals: number;
}

export function parseNumberFormat(pattern: string): NumberFormat | null {
  const match = NUMBER_PATTERN.exec(pattern);
  return match ? { grouping: match[1] === '#,##0', decimals: match[2]?.length ?? 0 } : null;
}

/** Fixed decimals, rounded half away from zero; `,` groups thousands, `.` is the decimal point. */
export function formatNumber(value: number, fmt: NumberFormat): string | null {
  if (!Number.isFinite(value)) return null;
  const scaled = scaledHalfAwayFromZero(Math.abs(value), fmt.decimals);
  if (!Number.isSafeInteger(scaled)) return null;
  const digits = String(scaled).padStart(fmt.decimals + 1, '0');
  let integer = digits.slice(0, digits.length - fmt.decimals);
  const fraction = digits.slice(digits.length - fmt.decimals);
  if (fmt.grouping) integer = integer.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const sign = value < 0 && scaled !== 0 ? '-' : '';
  return `${sign}${integer}${fmt.decimals > 0 ? `.${fraction}` : ''}`;
}

// --- dates: Unicode tokens (date-fns), optional IANA time zone ---

/**
 * date-fns refuses unknown letters, and YYYY/DD without extra options: exactly the check we want.
 * A pattern must also hold at least one date token outside quotes ("0.00" is not a date format).
 */
export function isValidDatePattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_FORMAT_LENGTH) return false;
  const unquoted = pattern.replace(/'[^']*'/g, '');
  if (!/[A-Za-z]/.test(unquoted)) return false;
  // Week-numbering years (Y) and days of the year (D) are almost always a mistake for y and d;
  // refused here, before date-fns would print a console warning about them.
  if (/[YD]/.test(unquoted)) return false;
  try {
    formatDate(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), pattern);
    return true;
  } catch {
    return false;
  }
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * A calendar date (`2026-11-20`) is printed as that date: a time zone would shift it. null when
 * the value is no such date, or date-fns refuses the pattern or zone (one stored where another
 * runtime took it): never an exception, which would fail the whole export.
 */
export function formatDateValue(value: unknown, pattern: string, sourceType: 'date' | 'datetime', timeZone: string): string | null {
  if (typeof value !== 'string') return null;
  const dateOnly = DATE_ONLY.exec(value);
  if (dateOnly) {
    // Not Date.UTC(y, …) nor new TZDate(y, …): they read 0050 as 1950.
    const utc = utcCalendarDate(Number(dateOnly[1]), Number(dateOnly[2]), Number(dateOnly[3]));
    return utc === null ? null : formatOrNull(new TZDate(utc.getTime(), 'UTC'), pattern);
  }
  if (!DATE_TIME.test(value)) return null;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return null;
  return formatOrNull(new TZDate(ms, sourceType === 'date' ? 'UTC' : timeZone), pattern);
}

function formatOrNull(date: TZDate, pattern: string): string | null {
  try {
    return formatDate(date, pattern);
  } catch {
    return null;
  }
}

/**
 * `transform_config_must_match_transform_type` for one mapping: the exact shape per type, a
 * formula that parses and reads only known source fields (`source_field_must_exist_in_internal_schema`),
 * a format pattern that suits the source type.
 */
export function validateTransformConfig(
  transformType: TransformType,
  config: unknown,
  sourceField: SourceFieldDefinition,
  sourceFields: readonly SourceFieldDefinition[],
): RuleError[] {
  const error = (message: string, field = 'transform_config', rule: RuleError['rule'] = 'transform_config_must_match_transform_type'): RuleError[] => [{ field, rule, message }];
  switch (transformType) {
    case 'direct':
      return config === null || config === undefined ? [] : error('a direct transform takes no transform_config (null)');
    case 'static':
      return isObject(config) && hasExactKeys(config, ['value']) && typeof config.value === 'string' && config.value.length <= MAX_TRANSFORM_VALUE_LENGTH
        ? []
        : error(`a static transform needs transform_config {"value": "<string of at most ${MAX_TRANSFORM_VALUE_LENGTH} characters>"} and nothing else`);
    case 'lookup':
      return isNonEmptyLookupMap(config) && hasExactKeys(config as Record<string, unknown>, ['map'])
        ? []
        : error(
            `a lookup transform needs transform_config {"map": {...}}: 1 to ${MAX_LOOKUP_ENTRIES} string values of at most ${MAX_TRANSFORM_VALUE_LENGTH} characters, nothing else`,
          );
    case 'computed': {
      if (!isObject(config) || !hasExactKeys(config, ['expression'])) return error('a computed transform needs transform_config {"expression": "<formula>"} and nothing else');
      const compiled = compileFormula(config.expression, new Set(sourceFields.map((f) => f.name)));
      if (compiled.ok) return [];
      if (compiled.unknownNames.length > 0) {
        return error(
          `the expression reads fields that are not source fields: ${compiled.unknownNames.join(', ')}`,
          'transform_config.expression',
          'source_field_must_exist_in_internal_schema',
        );
      }
      return error(compiled.message, 'transform_config.expression');
    }
    case 'format': {
      if (sourceField.type === 'date' || sourceField.type === 'datetime') {
        if (!isObject(config) || !hasExactKeys(config, ['format'], ['time_zone']))
          return error('a date format needs transform_config {"format": "<Unicode date pattern>", "time_zone"?: "<IANA zone>"}');
        if (!isValidDatePattern(config.format))
          return error('format is not a valid Unicode date pattern (e.g. dd.MM.yyyy; use yyyy and dd, not YYYY and DD)', 'transform_config.format');
        if (config.time_zone !== undefined && !isTimeZone(config.time_zone)) return error('time_zone is not a known IANA time zone', 'transform_config.time_zone');
        return [];
      }
      if (sourceField.type === 'number' || sourceField.type === 'integer') {
        if (!isObject(config) || !hasExactKeys(config, ['format'])) return error('a number format needs transform_config {"format": "0.00"} and nothing else');
        return typeof config.format === 'string' && parseNumberFormat(config.format)
          ? []
          : error('format must be a number pattern: 0, 0.00, #,##0 or #,##0.00 (up to 10 decimals)', 'transform_config.format');
      }
      return error(`${sourceField.name} is a ${sourceField.type}: only date, datetime and number fields can be formatted`);
    }
    default:
      return error('unknown transform_type');
  }
}

/** `required_fields_must_have_default_or_reliable_source`. */
export function requiredFieldHasReliableSource(spec: Pick<MappingSpec, 'transform_type' | 'default_value' | 'is_required'>, sourceField: SourceFieldDefinition): boolean {
  if (!spec.is_required) return true;
  if (spec.default_value !== null && spec.default_value !== undefined) return true;
  if (spec.transform_type === 'static') return true;
  return sourceField.non_null && !sourceField.derived && (spec.transform_type === 'direct' || spec.transform_type === 'format');
}
