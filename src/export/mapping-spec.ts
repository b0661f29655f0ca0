// Types of the export core. Pure: no Nest imports.
import type { AnsweredCode, Rule } from '../common/rules';
import type { SourceFieldDefinition } from '../integration-types/integration-type';

export type TransformType = 'direct' | 'format' | 'lookup' | 'computed' | 'static';
export const TRANSFORM_TYPES: readonly TransformType[] = ['direct', 'format', 'lookup', 'computed', 'static'];

/** What the compiler needs of one active mapping. */
export interface MappingSpec {
  id: string;
  version: number;
  source_field: string;
  target_field: string;
  transform_type: TransformType;
  transform_config: unknown;
  default_value: string | null;
  is_required: boolean;
  source_field_path: string | null;
  sort_order: number;
}

export interface CompileContext {
  sourceFields: readonly SourceFieldDefinition[];
  /** The config's `{expense_type: code}`: the derived `accounting_code`. */
  accountingCodeMappings: Record<string, string> | null;
}

export interface MappingResult {
  output: Record<string, unknown>;
  skipped_reason: string | null;
  warnings: string[];
}

/** One record in, one output row (or the reason it is skipped) out. */
export type CompiledMapping = (record: unknown) => MappingResult;

/** A failed rule at write time (a business rule: a 422, not a 400's field rule); `field` is relative to the mapping body. */
export interface RuleError {
  field: string;
  rule: Extract<Rule, AnsweredCode>;
  message: string;
}

/** A spec with the defaults a new mapping gets (`direct`, no config, not required): fixtures and benchmarks. */
export function mappingSpec(id: string, sort_order: number, source_field: string, target_field: string, extra: Partial<MappingSpec> = {}): MappingSpec {
  return {
    id,
    version: 1,
    source_field,
    target_field,
    transform_type: 'direct',
    transform_config: null,
    default_value: null,
    is_required: false,
    source_field_path: null,
    sort_order,
    ...extra,
  };
}
