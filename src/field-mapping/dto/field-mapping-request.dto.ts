import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsObject, IsIn, IsInt, IsOptional, IsUUID, Matches, Max, Min, ValidateIf, ValidateNested } from 'class-validator';
import { rule } from '../../common/validation';
import { AsSent, IsBoundedString, isPlainObject, OptionalButNotNull, ruleDecorator, SNAKE_CASE } from '../../common/validators';
import {
  isNonEmptyLookupMap,
  MAX_EXPRESSION_LENGTH,
  MAX_FORMAT_LENGTH,
  MAX_LOOKUP_ENTRIES,
  MAX_TIME_ZONE_LENGTH,
  MAX_TRANSFORM_VALUE_LENGTH,
  RESERVED_TARGET_FIELDS,
} from '../../export';
import { TRANSFORM_TYPE_VALUES, type TransformTypeValue } from '../field-mapping.entity';

export const MAPPING_RULES = {
  sourceField: 'source_field_snake_case',
  targetField: 'target_field_non_empty',
  targetFieldReserved: 'target_field_must_not_be_reserved',
  transformType: 'transform_type_is_valid_enum',
  lookupMap: 'lookup_transform_config_is_non_empty_map',
  defaultValue: 'default_value_length_within_bounds',
  path: 'source_field_path_valid_dot_notation',
  sortOrder: 'sort_order_non_negative',
} as const;

export const DOT_PATH = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
export const MAX_BULK_ITEMS = 500;

const SORT_ORDER_MESSAGE = 'sort_order must be an integer >= 0';

/**
 * The shapes of transform_config, one per transform_type; shared with the responses. null (direct)
 * is a member of the oneOf: in OpenAPI 3.0 `nullable` beside a oneOf of objects admits no null.
 */
export const TRANSFORM_CONFIG_SCHEMA: ApiPropertyOptions = {
  description: 'direct: null · format: {format, time_zone?} · lookup: {map} · computed: {expression} · static: {value}',
  oneOf: [
    {
      type: 'object',
      title: 'format',
      required: ['format'],
      additionalProperties: false,
      properties: {
        format: {
          type: 'string',
          minLength: 1,
          maxLength: MAX_FORMAT_LENGTH,
          example: 'dd.MM.yyyy',
          description: 'A date pattern (dd, MM, yyyy, HH, mm, ss…) or a number format (0, 0.00, #,##0.00)',
        },
        time_zone: {
          type: 'string',
          minLength: 1,
          maxLength: MAX_TIME_ZONE_LENGTH,
          pattern: '^[A-Za-z0-9_+/-]+$',
          example: 'Europe/Oslo',
          description: 'IANA time zone for date-times',
        },
      },
    },
    {
      type: 'object',
      title: 'lookup',
      required: ['map'],
      additionalProperties: false,
      properties: {
        map: {
          type: 'object',
          minProperties: 1,
          maxProperties: MAX_LOOKUP_ENTRIES,
          additionalProperties: { type: 'string', maxLength: MAX_TRANSFORM_VALUE_LENGTH },
          example: { travel_km: '4001' },
        },
      },
    },
    {
      type: 'object',
      title: 'computed',
      required: ['expression'],
      additionalProperties: false,
      properties: {
        expression: {
          type: 'string',
          minLength: 1,
          maxLength: MAX_EXPRESSION_LENGTH,
          example: 'km_distance * 4.5 + toll_amount',
          description: 'The safe formula language: arithmetic, comparisons, if/then/else and an allowlist of functions over source fields',
        },
      },
    },
    {
      type: 'object',
      title: 'static',
      required: ['value'],
      additionalProperties: false,
      properties: { value: { type: 'string', maxLength: MAX_TRANSFORM_VALUE_LENGTH, example: 'NOK' } },
    },
    { type: 'object', title: 'direct', nullable: true, enum: [null], description: 'null: a direct transform takes no config' },
  ],
};

const RESERVED_TARGETS = [...RESERVED_TARGET_FIELDS].join(', ');
const TARGET_FIELD_DESCRIPTION = `The key of the field in each export row; not ${RESERVED_TARGETS}`;

/** `target_field_must_not_be_reserved`: a name that reaches JavaScript prototypes (its value would vanish from a row). */
const IsNotReservedTargetField = () =>
  ruleDecorator(
    'isNotReservedTargetField',
    MAPPING_RULES.targetFieldReserved,
    // Compared as stored (trimmed); a value that is no string is the length rule's to refuse.
    (value) => typeof value !== 'string' || !RESERVED_TARGET_FIELDS.has(value.trim()),
    () => `target_field must not be ${RESERVED_TARGETS}`,
    {},
    { type: 'string', not: { enum: [...RESERVED_TARGET_FIELDS] } },
  );

/** The fields of a mapping a client writes; on update and new versions each is optional. */
// target_field is declared by each subclass, not here: class-validator merges a parent's
// decorators into a subclass, so an optional parent would make the create DTO's required one optional.
class FieldMappingFields {
  @ApiPropertyOptional({ enum: TRANSFORM_TYPE_VALUES, default: 'direct' })
  @OptionalButNotNull()
  @IsIn(TRANSFORM_TYPE_VALUES, rule(MAPPING_RULES.transformType, `transform_type must be one of: ${TRANSFORM_TYPE_VALUES.join(', ')}`))
  transform_type?: TransformTypeValue;

  @ApiPropertyOptional(TRANSFORM_CONFIG_SCHEMA)
  // A lookup needs a non-empty map of strings (a validation rule, 400); other shapes are checked
  // against the transform type as a business rule (422), also when only one of the two changes.
  @ValidateIf((o: FieldMappingFields) => o.transform_type === 'lookup')
  @ruleDecorator(
    'isNonEmptyLookupMap',
    MAPPING_RULES.lookupMap,
    isNonEmptyLookupMap,
    () => 'a lookup transform needs transform_config {"map": {...}} with at least one string entry',
    {},
    TRANSFORM_CONFIG_SCHEMA,
  )
  @AsSent()
  transform_config?: unknown;

  @ApiPropertyOptional({ type: String, nullable: true, minLength: 1, maxLength: 255, example: '0000' })
  @IsOptional()
  @IsBoundedString(MAPPING_RULES.defaultValue, { min: 1, max: 255 }, { message: 'default_value must be 1 to 255 characters' })
  default_value?: string | null;

  @ApiPropertyOptional({ default: false })
  @OptionalButNotNull()
  @IsBoolean(rule('is_required_must_be_boolean', 'is_required must be true or false'))
  is_required?: boolean;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'expense_line.km_distance', pattern: DOT_PATH.source })
  @IsOptional()
  @Matches(DOT_PATH, rule(MAPPING_RULES.path, 'source_field_path must be two or more snake_case segments joined by dots'))
  @IsBoundedString(MAPPING_RULES.path, { max: 255 })
  source_field_path?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 255, example: 'Amount (NOK)', description: 'Defaults to source_field' })
  @IsOptional()
  @IsBoundedString('display_label_length_within_bounds', { max: 255, trim: true }, { message: 'display_label must be 1 to 255 characters' })
  display_label?: string | null;

  @ApiPropertyOptional({ minimum: 0, description: 'Default: after the last' })
  @OptionalButNotNull()
  @IsInt(rule(MAPPING_RULES.sortOrder, SORT_ORDER_MESSAGE))
  @Min(0, rule(MAPPING_RULES.sortOrder, SORT_ORDER_MESSAGE))
  @Max(1_000_000, rule(MAPPING_RULES.sortOrder, 'sort_order must be at most 1000000'))
  sort_order?: number;

  @ApiPropertyOptional({ default: true })
  @OptionalButNotNull()
  @IsBoolean(rule('is_active_must_be_boolean', 'is_active must be true or false'))
  is_active?: boolean;
}

export class CreateFieldMappingDto extends FieldMappingFields {
  @ApiProperty({ example: 'expense_amount', description: 'A source field of the integration type (GET /v1/integration-types)', pattern: SNAKE_CASE.source })
  @Matches(SNAKE_CASE, rule(MAPPING_RULES.sourceField, 'source_field must be snake_case'))
  @IsBoundedString(MAPPING_RULES.sourceField, { max: 255 })
  source_field: string;

  @ApiProperty({ example: 'Amount', maxLength: 255, description: TARGET_FIELD_DESCRIPTION })
  @IsBoundedString(MAPPING_RULES.targetField, { max: 255, trim: true }, { message: 'target_field must be a non-empty string of at most 255 characters' })
  @IsNotReservedTargetField()
  target_field: string;
}

export class UpdateFieldMappingDto extends FieldMappingFields {
  @ApiPropertyOptional({ example: 'expense_amount', pattern: SNAKE_CASE.source })
  @OptionalButNotNull()
  @Matches(SNAKE_CASE, rule(MAPPING_RULES.sourceField, 'source_field must be snake_case'))
  @IsBoundedString(MAPPING_RULES.sourceField, { max: 255 })
  source_field?: string;

  @ApiPropertyOptional({ example: 'AccountCode', maxLength: 255, description: TARGET_FIELD_DESCRIPTION })
  @OptionalButNotNull()
  @IsBoundedString(MAPPING_RULES.targetField, { max: 255, trim: true }, { message: 'target_field must be a non-empty string of at most 255 characters' })
  @IsNotReservedTargetField()
  target_field?: string;
}

export class BulkCreateFieldMappingsDto {
  @ApiProperty({ type: [CreateFieldMappingDto], maxItems: MAX_BULK_ITEMS })
  @IsArray(rule('items_must_be_array', 'items must be an array'))
  @ArrayMinSize(1, rule('items_within_bounds', `items must hold 1 to ${MAX_BULK_ITEMS} mappings`))
  @ArrayMaxSize(MAX_BULK_ITEMS, rule('items_within_bounds', `items must hold 1 to ${MAX_BULK_ITEMS} mappings`))
  // ValidateNested walks an array inside the array as more items: [[]] would pass as no item at all.
  @IsObject({ each: true, ...rule('items_must_be_array', 'each item must be a mapping object') })
  @ValidateNested({ each: true })
  @Type(() => CreateFieldMappingDto)
  items: CreateFieldMappingDto[];
}

export class ReorderFieldMappingsDto {
  @ApiProperty({
    type: 'array',
    items: { type: 'string', format: 'uuid' },
    minItems: 1,
    maxItems: 1000,
    description: 'Mapping ids in the new order: they get sort_order 0..n-1; others follow',
  })
  @IsArray(rule('ids_must_be_array', 'ids must be an array'))
  @ArrayMinSize(1, rule('ids_within_bounds', 'ids must hold at least one id'))
  @ArrayMaxSize(1000, rule('ids_within_bounds', 'ids must hold at most 1000 ids'))
  @IsUUID('all', { each: true, ...rule('ids_must_be_uuids', 'each id must be a UUID') })
  ids: string[];
}

export class PreviewMappingDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { claim_id: '3f2b…', expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20' },
  })
  @ruleDecorator('isPlainObject', 'record_must_be_object', isPlainObject, () => 'record must be a JSON object', {}, { type: 'object', additionalProperties: true })
  @AsSent()
  record: Record<string, unknown>;
}

export class FieldMappingListQueryDto {
  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'Only active (true) or inactive (false) mappings' })
  @IsOptional()
  @IsIn(['true', 'false'], rule('is_active_must_be_boolean', 'is_active must be true or false'))
  is_active?: 'true' | 'false';
}
