// An integration's active mappings compiled once into one function: record → output row.
// Preview and export both use it: there is one resolver. Pure: no Nest imports.
import { PROTOTYPE_KEYS } from '../common/json-body';
import type { SourceFieldDefinition } from '../integration-types/integration-type';
import { compileFormula, type FormulaCompilation } from './expression';
import type { CompileContext, CompiledMapping, MappingResult, MappingSpec } from './mapping-spec';
import { canonicalTimeZone, formatDateValue, formatNumber, parseNumberFormat } from './transforms';

export const NO_ACTIVE_MAPPINGS = 'no_active_mappings';
export const DUPLICATE_TARGET_FIELD = 'duplicate_target_field';

/**
 * Target field names refused at write time (`target_field_must_not_be_reserved`): `output.__proto__ = v`
 * sets the row's prototype and the value vanishes, and the others are traps for any code that
 * merges rows naively. Rows stored before the rule still export them, written as own properties.
 */
export const RESERVED_TARGET_FIELDS: ReadonlySet<string> = PROTOTYPE_KEYS;

type Reader = (record: Record<string, unknown>) => unknown;
type Transform = (value: unknown, record: Record<string, unknown>, warn: (warning: string) => void) => unknown;

interface Step {
  target: string;
  /** A reserved name (`__proto__`): written with defineProperty, never through a setter. */
  reserved: boolean;
  read: Reader;
  /** Derived fields the step reads (accounting_code): a record's own value of one is ignored, with a warning. */
  derived: string[];
  transform: Transform | null;
  defaultValue: string | null;
  required: boolean;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Reads a dot path through own properties only: never a prototype's. */
function pathReader(path: string): Reader {
  const segments = path.split('.');
  if (segments.length === 1) {
    const [key] = segments;
    return (record) => (hasOwn.call(record, key) ? record[key] : undefined);
  }
  return (record) => {
    let current: unknown = record;
    for (const segment of segments) {
      if (current === null || typeof current !== 'object' || !hasOwn.call(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
    return current;
  };
}

function fieldReader(field: SourceFieldDefinition, overridePath: string | null, ctx: CompileContext): Reader {
  if (field.derived === 'accounting_code') {
    const codes = ctx.accountingCodeMappings ?? {};
    return (record) => {
      const type = hasOwn.call(record, 'expense_type') ? record['expense_type'] : undefined;
      return typeof type === 'string' && hasOwn.call(codes, type) ? codes[type] : null;
    };
  }
  return pathReader(overridePath ?? field.path ?? field.name);
}

function makeTransform(
  spec: MappingSpec,
  field: SourceFieldDefinition,
  fields: Map<string, SourceFieldDefinition>,
  formula: FormulaCompilation | null,
  ctx: CompileContext,
): Transform | null {
  const config = spec.transform_config as Record<string, unknown> | null;
  const target = spec.target_field;
  switch (spec.transform_type) {
    case 'direct':
      return null;
    case 'static': {
      const value = config?.['value'] ?? null;
      return () => value;
    }
    case 'lookup': {
      const map = (config?.['map'] ?? {}) as Record<string, string>;
      return (value) => {
        const key = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
        return key !== null && hasOwn.call(map, key) ? map[key] : null;
      };
    }
    case 'format': {
      const pattern = String(config?.['format'] ?? '');
      if (field.type === 'date' || field.type === 'datetime') {
        // Canonical once here, not per record; null: a zone this runtime does not know (a date-time then prints as nothing).
        const zone = typeof config?.['time_zone'] === 'string' ? canonicalTimeZone(config['time_zone']) : 'UTC';
        return (value, _record, warn) => {
          if (value === null || value === undefined || value === '') return null;
          const formatted = zone === null && field.type === 'datetime' ? null : formatDateValue(value, pattern, field.type as 'date' | 'datetime', zone ?? 'UTC');
          if (formatted === null) warn(`invalid_date:${target}`);
          return formatted;
        };
      }
      const numberFormat = parseNumberFormat(pattern);
      return (value, _record, warn) => {
        if (value === null || value === undefined || value === '') return null;
        const formatted = typeof value === 'number' && numberFormat ? formatNumber(value, numberFormat) : null;
        if (formatted === null) warn(`invalid_number:${target}`);
        return formatted;
      };
    }
    case 'computed': {
      // Checked at write time; a formula that no longer compiles yields null, with a warning.
      if (!formula?.ok) return (_value, _record, warn) => (warn(`formula_error:${target}`), null);
      const compiled = formula.formula;
      const readers = compiled.fieldsRead.map((name) => [name, fieldReader(fields.get(name)!, null, ctx)] as const);
      return (_value, record, warn) => {
        const values: Record<string, unknown> = Object.create(null);
        for (const [name, read] of readers) values[name] = read(record) ?? null;
        const { value, error } = compiled.evaluate(values);
        if (error) warn(`formula_error:${target}`);
        return value;
      };
    }
    default:
      return () => null;
  }
}

/** A `computed` mapping's formula, compiled against the source fields; null for other transforms. */
function formulaOf(spec: MappingSpec, fieldNames: ReadonlySet<string>): FormulaCompilation | null {
  if (spec.transform_type !== 'computed') return null;
  return compileFormula((spec.transform_config as Record<string, unknown> | null)?.['expression'], fieldNames);
}

/** The derived fields whose value a mapping uses: its source (unless `static`), or those its formula reads. */
function derivedFieldsRead(spec: MappingSpec, field: SourceFieldDefinition, fields: Map<string, SourceFieldDefinition>, formula: FormulaCompilation | null): string[] {
  if (spec.transform_type === 'static') return [];
  if (spec.transform_type !== 'computed') return field.derived ? [field.name] : [];
  return formula?.ok ? formula.formula.fieldsRead.filter((name) => fields.get(name)?.derived) : [];
}

const byOrder = (a: MappingSpec, b: MappingSpec) => a.sort_order - b.sort_order || (a.source_field < b.source_field ? -1 : a.source_field > b.source_field ? 1 : 0);

export function compileMappings(mappings: readonly MappingSpec[], ctx: CompileContext): CompiledMapping {
  const fields = new Map(ctx.sourceFields.map((f) => [f.name, f]));
  const fieldNames: ReadonlySet<string> = new Set(fields.keys());
  const steps: Step[] = [...mappings].sort(byOrder).flatMap((spec) => {
    const field = fields.get(spec.source_field);
    // A mapping of a field the schema does not know cannot be read (refused at write time).
    if (!field) return [];
    // Compiled once, for both the transform and the derived fields it reads.
    const formula = formulaOf(spec, fieldNames);
    return [
      {
        target: spec.target_field,
        reserved: RESERVED_TARGET_FIELDS.has(spec.target_field),
        read: fieldReader(field, spec.source_field_path, ctx),
        derived: derivedFieldsRead(spec, field, fields, formula),
        transform: makeTransform(spec, field, fields, formula, ctx),
        defaultValue: spec.default_value,
        required: spec.is_required,
      },
    ];
  });
  const noneActive = steps.length === 0;

  return (record: unknown): MappingResult => {
    const warnings: string[] = noneActive ? [NO_ACTIVE_MAPPINGS] : [];
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return { output: {}, skipped_reason: 'invalid_record', warnings };
    const source = record as Record<string, unknown>;
    const warn = (warning: string) => warnings.push(warning);
    const output: Record<string, unknown> = {};
    for (const step of steps) {
      // The record's own accounting_code is not what is exported: say so rather than leave a surprise.
      for (const name of step.derived) if (hasOwn.call(source, name) && source[name] !== null && source[name] !== undefined) warn(`record_${name}_ignored:${step.target}`);
      let value = step.read(source);
      if (step.transform !== null) value = step.transform(value, source, warn);
      if ((value === null || value === undefined || value === '') && step.defaultValue !== null) value = step.defaultValue;
      if (value === undefined) value = null;
      if (step.required && (value === null || value === '')) return { output: {}, skipped_reason: `missing_required_field:${step.target}`, warnings };
      // `output.__proto__ = value` would set the row's prototype, not a key.
      if (step.reserved) Object.defineProperty(output, step.target, { value, writable: true, enumerable: true, configurable: true });
      else output[step.target] = value;
    }
    return { output, skipped_reason: null, warnings };
  };
}

/**
 * What a mapping write is told (its `warnings`): a mapping that uses the derived accounting_code
 * while the config maps no expense type to a code would export null (or its default) for every record.
 */
export function mappingWriteWarnings(spec: MappingSpec, ctx: CompileContext): string[] {
  const fields = new Map(ctx.sourceFields.map((f) => [f.name, f]));
  const field = fields.get(spec.source_field);
  if (!field || Object.keys(ctx.accountingCodeMappings ?? {}).length > 0) return [];
  return derivedFieldsRead(spec, field, fields, formulaOf(spec, new Set(fields.keys()))).includes('accounting_code') ? [`accounting_code_mappings_empty:${spec.target_field}`] : [];
}

/** Whether the active mappings cover the type's required target fields. */
export function coverage(activeMappings: readonly Pick<MappingSpec, 'target_field'>[], requiredTargetFields: readonly string[]) {
  const mapped = new Set<string>();
  const repeated = new Set<string>();
  for (const { target_field } of activeMappings) (mapped.has(target_field) ? repeated : mapped).add(target_field);
  const missing = requiredTargetFields.filter((target) => !mapped.has(target));
  // Two active mappings of one target: the later in sort order overwrites the other in every row (a null too).
  const warnings = activeMappings.length === 0 ? [NO_ACTIVE_MAPPINGS] : [...repeated].map((target) => `${DUPLICATE_TARGET_FIELD}:${target}`);
  return { complete: missing.length === 0, missing_target_fields: missing, warnings };
}
