// The field-mapping business rules as pure functions of a mapping's resulting state. No Nest.
import { changedFieldNames } from '../audit/audit-actions';
import type { FieldError } from '../common/problem';
import { isNonEmptyLookupMap, requiredFieldHasReliableSource, validateTransformConfig, type MappingSpec, type RuleError } from '../export';
import type { IntegrationTypeDefinition } from '../integration-types/integration-type';
import type { FieldMappingEntity } from './field-mapping.entity';

/** The fields an export depends on: frozen once a completed export used the mapping. */
export const EXPORT_RELEVANT_FIELDS = ['source_field', 'target_field', 'transform_type', 'transform_config', 'default_value', 'is_required', 'source_field_path'] as const;

/** Bound on a transform_config, beyond what its shape allows (a lookup map of 1000s of keys). */
const MAX_TRANSFORM_CONFIG_JSON = 64 * 1024;

export type MappingState = Pick<FieldMappingEntity, 'source_field' | 'transform_type' | 'transform_config' | 'default_value' | 'is_required'>;

/** A 400 the DTO cannot see when only one of transform_type / transform_config changes. */
export function lookupMapErrors(state: MappingState, prefix = ''): FieldError[] {
  return state.transform_type === 'lookup' && !isNonEmptyLookupMap(state.transform_config)
    ? [
        {
          field: `${prefix}transform_config`,
          rule: 'lookup_transform_config_is_non_empty_map',
          message: 'a lookup transform needs transform_config {"map": {...}} with at least one string entry',
        },
      ]
    : [];
}

/** The 422 rules, all failures at once, field names prefixed (`items[2].`) for bulk. */
export function businessRuleErrors(state: MappingState, type: IntegrationTypeDefinition, prefix = ''): RuleError[] {
  const sourceField = type.source_fields.find((f) => f.name === state.source_field);
  if (!sourceField) {
    return [
      { field: `${prefix}source_field`, rule: 'source_field_must_exist_in_internal_schema', message: `${state.source_field} is not a source field of ${type.integration_type}` },
    ];
  }
  const errors: RuleError[] = [];
  if (JSON.stringify(state.transform_config ?? null).length > MAX_TRANSFORM_CONFIG_JSON) {
    errors.push({ field: `${prefix}transform_config`, rule: 'transform_config_must_match_transform_type', message: 'transform_config is larger than 64 KiB' });
  } else {
    for (const e of validateTransformConfig(state.transform_type, state.transform_config, sourceField, type.source_fields)) {
      errors.push({ ...e, field: `${prefix}${e.field}` });
    }
  }
  if (state.is_required && !requiredFieldHasReliableSource(state, sourceField)) {
    errors.push({
      field: `${prefix}is_required`,
      rule: 'required_fields_must_have_default_or_reliable_source',
      message: `a required mapping needs a default_value, a static transform, or a non-null source read by direct/format (${state.source_field} is ${sourceField.non_null ? 'non-null' : 'nullable'})`,
    });
  }
  return errors;
}

/** The export-relevant fields a change would alter: by value (jsonb answers an object's keys in its own order), absent the same as null. */
export function changedExportFields(current: FieldMappingEntity, next: FieldMappingEntity): string[] {
  const exportFields = (mapping: FieldMappingEntity) => Object.fromEntries(EXPORT_RELEVANT_FIELDS.map((field) => [field, mapping[field] ?? null]));
  return changedFieldNames(exportFields(current), exportFields(next), EXPORT_RELEVANT_FIELDS);
}

export function toMappingSpec(mapping: FieldMappingEntity): MappingSpec {
  return {
    id: mapping.id,
    version: mapping.version,
    source_field: mapping.source_field,
    target_field: mapping.target_field,
    transform_type: mapping.transform_type,
    transform_config: mapping.transform_config,
    default_value: mapping.default_value,
    is_required: mapping.is_required,
    source_field_path: mapping.source_field_path,
    sort_order: mapping.sort_order,
  };
}
