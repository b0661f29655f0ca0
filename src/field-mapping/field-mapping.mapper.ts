import type { FieldMappingResponse } from './dto/field-mapping-response.dto';
import type { FieldMappingEntity } from './field-mapping.entity';

export function toFieldMappingResponse(m: FieldMappingEntity): FieldMappingResponse {
  return {
    id: m.id,
    integration_id: m.integration_id,
    source_field: m.source_field,
    target_field: m.target_field,
    transform_type: m.transform_type,
    transform_config: m.transform_config ?? null,
    default_value: m.default_value,
    is_required: m.is_required,
    source_field_path: m.source_field_path,
    display_label: m.display_label,
    sort_order: m.sort_order,
    is_active: m.is_active,
    version: m.version,
    previous_version_id: m.previous_version_id,
    used_in_export: m.used_in_export,
    created_at: m.created_at.toISOString(),
    updated_at: m.updated_at.toISOString(),
  };
}
