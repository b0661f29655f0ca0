import { ApiProperty } from '@nestjs/swagger';
import { CURSOR_SCHEMA } from '../../common/pagination';
import { SNAKE_CASE } from '../../common/validators';
import { MAX_WARNING_LENGTH } from '../../export';
import { TRANSFORM_TYPE_VALUES } from '../field-mapping.entity';
import { DOT_PATH, TRANSFORM_CONFIG_SCHEMA } from './field-mapping-request.dto';

const TARGET = { maxLength: 255, example: 'Amount' };

export class FieldMappingResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) integration_id: string;
  @ApiProperty({ example: 'expense_amount', pattern: SNAKE_CASE.source, maxLength: 255 }) source_field: string;
  @ApiProperty(TARGET) target_field: string;
  @ApiProperty({ enum: TRANSFORM_TYPE_VALUES }) transform_type: string;
  @ApiProperty({ ...TRANSFORM_CONFIG_SCHEMA, example: { format: 'dd.MM.yyyy' } }) transform_config: unknown;
  @ApiProperty({ type: String, nullable: true, maxLength: 255, example: null }) default_value: string | null;
  @ApiProperty() is_required: boolean;
  @ApiProperty({ type: String, nullable: true, example: null, pattern: DOT_PATH.source, maxLength: 255 }) source_field_path: string | null;
  @ApiProperty({ example: 'expense_amount', maxLength: 255 }) display_label: string;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 1_000_000, example: 0 }) sort_order: number;
  @ApiProperty() is_active: boolean;
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 1 }) version: number;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) previous_version_id: string | null;
  @ApiProperty({ description: 'Used by a completed export: export-relevant fields are frozen; create a new version instead' }) used_in_export: boolean;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time' }) updated_at: string;
}

export class FieldMappingListResponse {
  @ApiProperty({
    type: [FieldMappingResponse],
    maxItems: 1000,
    description: "The whole list, on one page: the integration's current mappings (one per source field), or one mapping's versions (GET …/{id}/versions)",
  })
  items: FieldMappingResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true, example: null, description: 'Always null: the list is never split into pages' }) next_cursor: null;
}

/** The answer to a mapping write: the mapping, and what its writer should know. */
export class FieldMappingWriteResponse extends FieldMappingResponse {
  @ApiProperty({
    type: 'array',
    items: { type: 'string', maxLength: MAX_WARNING_LENGTH },
    maxItems: 10,
    example: [],
    description: "accounting_code_mappings_empty:<target_field>: the mapping uses the derived accounting_code while the config's accounting_code_mappings is empty",
  })
  warnings: string[];
}

export class FieldMappingWriteListResponse {
  @ApiProperty({ type: [FieldMappingWriteResponse], maxItems: 1000 }) items: FieldMappingWriteResponse[];
}

export class CoverageResponse {
  @ApiProperty() complete: boolean;
  @ApiProperty({ type: 'array', items: { type: 'string', maxLength: 255 }, maxItems: 1000, example: ['AccountCode'] }) missing_target_fields: string[];
  @ApiProperty({ type: 'array', items: { type: 'string', maxLength: MAX_WARNING_LENGTH }, maxItems: 100, example: [], description: 'e.g. no_active_mappings' }) warnings: string[];
}

export class PreviewResponse {
  @ApiProperty({ type: 'object', additionalProperties: true, maxProperties: 1000, example: { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '4001' } }) output: Record<
    string,
    unknown
  >;
  @ApiProperty({
    type: String,
    nullable: true,
    maxLength: MAX_WARNING_LENGTH,
    example: null,
    description: 'missing_required_field:<target_field> when the record would be skipped',
  })
  skipped_reason: string | null;
  @ApiProperty({ type: 'array', items: { type: 'string', maxLength: MAX_WARNING_LENGTH }, maxItems: 101, example: [] }) warnings: string[];
}
