import { ApiProperty } from '@nestjs/swagger';
import { CURSOR_SCHEMA } from '../common/pagination';

export class SourceFieldResponse {
  @ApiProperty({ example: 'expense_amount', pattern: '^[a-z][a-z0-9_]*$', maxLength: 255 }) name: string;
  @ApiProperty({ enum: ['uuid', 'string', 'number', 'integer', 'date', 'datetime'], example: 'number' }) type: string;
  @ApiProperty({ description: 'Always present and non-null in platform records' }) non_null: boolean;
  @ApiProperty({ type: String, nullable: true, example: null, maxLength: 255, description: 'Dot path inside a record, when not the top-level name' }) path: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    maxLength: 255,
    description:
      "Set for a field that is derived, not read from the record: `accounting_code_mappings[expense_type]` (the config's code for the record's expense_type). A record's own value of it is ignored, with a warning.",
  })
  derived_from: string | null;
}

export class IntegrationTypeResponse {
  @ApiProperty({ example: 'xledger', pattern: '^[a-z][a-z0-9_]*$', maxLength: 64 }) integration_type: string;
  @ApiProperty({ example: 'Xledger', maxLength: 200 }) display_name: string;
  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: ['api_key', 'client_id', 'client_secret', 'tenant_id'] },
    maxItems: 4,
    example: ['api_key'],
    description: 'Needed (with base_url and required_extra_config) before the config can be enabled',
  })
  required_credentials: string[];
  @ApiProperty({
    type: 'array',
    items: { type: 'string', pattern: '^[a-z][a-z0-9_]*$', maxLength: 64 },
    maxItems: 100,
    example: ['entity_set', 'alternate_key'],
    description:
      'Keys of extra_config the connector needs (each a non-empty string) before the config can be enabled: 422 credentials_required_before_enable, errors[].field `extra_config.<key>`, without them',
  })
  required_extra_config: string[];
  @ApiProperty({
    type: 'array',
    items: { type: 'string', maxLength: 255 },
    maxItems: 1000,
    example: ['Amount', 'TransactionDate', 'AccountCode'],
    description: 'Targets every export must map',
  })
  required_target_fields: string[];
  @ApiProperty({ type: [SourceFieldResponse], maxItems: 1000 }) source_fields: SourceFieldResponse[];
}

export class IntegrationTypeListResponse {
  @ApiProperty({ type: [IntegrationTypeResponse], maxItems: 100 }) items: IntegrationTypeResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true, example: null, description: 'Always null: the registry is one page' }) next_cursor: null;
}
