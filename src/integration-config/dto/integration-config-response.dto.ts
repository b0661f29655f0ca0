import { ApiProperty } from '@nestjs/swagger';
import { CURSOR_SCHEMA } from '../../common/pagination';
import { SNAKE_CASE } from '../../common/validators';
import { SYNC_FREQUENCIES, SYNC_STATUSES } from '../integration-config.entity';

/** A config as clients see it: secrets only as `has_*`, never plaintext nor ciphertext. */
export class IntegrationConfigResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) organization_id: string;
  @ApiProperty({ example: 'xledger', pattern: SNAKE_CASE.source, maxLength: 64 }) integration_type: string;
  @ApiProperty({ example: 'Xledger production', maxLength: 200 }) display_name: string;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: String, format: 'uri', maxLength: 2048, nullable: true, example: 'https://api.xledger.example/graphql' }) base_url: string | null;
  @ApiProperty({ type: String, nullable: true, maxLength: 255, example: '7f0c1b0e-client' }) client_id: string | null;
  @ApiProperty({ type: String, nullable: true, maxLength: 255, example: null }) tenant_id: string | null;
  @ApiProperty() has_api_key: boolean;
  @ApiProperty() has_client_secret: boolean;
  @ApiProperty() has_webhook_secret: boolean;
  @ApiProperty({
    type: 'object',
    maxProperties: 1000,
    additionalProperties: { type: 'string', maxLength: 255 },
    example: { expense_amount: 'Amount' },
    description: 'The active field mappings, {source_field: target_field}',
  })
  field_mappings: Record<string, string>;
  @ApiProperty({ type: 'object', maxProperties: 200, additionalProperties: { type: 'string', maxLength: 255 }, example: { travel_km: '4001', toll: '4002' } })
  accounting_code_mappings: Record<string, string>;
  @ApiProperty({ enum: SYNC_FREQUENCIES }) sync_frequency: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_sync_at: string | null;
  @ApiProperty({ enum: SYNC_STATUSES, nullable: true }) last_sync_status: string | null;
  @ApiProperty({ type: String, nullable: true, maxLength: 10_000 }) last_sync_error: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_success_at: string | null;
  @ApiProperty({ type: String, format: 'uri', maxLength: 2048, nullable: true, example: null }) webhook_url: string | null;
  @ApiProperty({ type: 'object', maxProperties: 1000, additionalProperties: true, example: { company_code: '1001' } }) extra_config: Record<string, unknown>;
  @ApiProperty({
    example: false,
    description:
      'Deliveries are paused: after ALERT_PAUSE_AFTER_FAILURES failed attempts in a row (an `integration.paused` alert says so), or by an admin. PATCH `paused: false` resumes them.',
  })
  paused: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When deliveries were paused' }) paused_at: string | null;
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 3, description: 'Increases by one on every change; the ETag is "<revision>"' })
  revision: number;
  @ApiProperty({ format: 'uuid' }) created_by: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) updated_by: string | null;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time' }) updated_at: string;
}

export class IntegrationConfigListResponse {
  @ApiProperty({ type: [IntegrationConfigResponse], maxItems: 100, description: 'One per integration type' }) items: IntegrationConfigResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true, example: null, description: 'Always null: an organization has one config per type' }) next_cursor: null;
}

export class WebhookSecretResponse {
  @ApiProperty({
    description: '`whsec_` + base64 of 32 random bytes, shown this once; the previous secret keeps verifying for 24 hours',
    pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
    maxLength: 94,
  })
  webhook_secret: string;
}
