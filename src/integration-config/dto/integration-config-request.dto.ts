import { ApiHideProperty, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { rule } from '../../common/validation';
import {
  AsSent,
  IsBoundedJsonObject,
  IsBoundedString,
  IsHttpsUrl,
  IsSnakeCaseStringMap,
  IsWebhookSecret,
  MustBeAbsent,
  OptionalButNotNull,
  SNAKE_CASE,
} from '../../common/validators';
import { IsKnownIntegrationType } from '../../integration-types/known-integration-type.validator';
import { SYNC_FREQUENCIES, type SyncFrequency } from '../integration-config.entity';

export const RULES = {
  baseUrl: 'base_url_must_be_https',
  jsonObject: 'field_mappings_must_be_valid_json_object',
  displayName: 'display_name_not_empty',
  plaintext: 'encrypted_fields_must_not_be_stored_in_plaintext',
  syncFrequency: 'sync_frequency_must_be_known_value',
  webhookSecret: 'webhook_secret_format',
  credential: 'credential_length_within_bounds',
  identifier: 'identifier_length_within_bounds',
  integrationTypeImmutable: 'integration_type_cannot_change',
} as const;

const STRING_MAP_VALUE = { type: 'string', minLength: 1, maxLength: 255 } as const;

const ENCRYPTED_MESSAGE = (field: string) => `${field} cannot be written: send the plaintext ${field.replace(/_encrypted$/, '')}, which is stored encrypted`;

/** The fields a create and an update share; on update, each is optional and null clears it. */
class IntegrationConfigWritableFields {
  @ApiPropertyOptional({ type: String, nullable: true, format: 'uri', example: 'https://api.xledger.example/graphql', description: 'https only' })
  @IsOptional()
  @IsHttpsUrl(RULES.baseUrl)
  base_url?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    writeOnly: true,
    example: 'xl-api-key-…',
    description: 'Write-only; stored AES-256-GCM encrypted; responses show has_api_key',
  })
  @IsOptional()
  @IsBoundedString(RULES.credential, { max: 4096 })
  api_key?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, example: '7f0c1b0e-client' })
  @IsOptional()
  @IsBoundedString(RULES.identifier, { max: 255, trim: true })
  client_id?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, writeOnly: true, description: 'Write-only; stored encrypted; responses show has_client_secret' })
  @IsOptional()
  @IsBoundedString(RULES.credential, { max: 4096 })
  client_secret?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'contoso.onmicrosoft.com' })
  @IsOptional()
  @IsBoundedString(RULES.identifier, { max: 255, trim: true })
  tenant_id?: string | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: STRING_MAP_VALUE,
    maxProperties: 200,
    example: { expense_amount: 'Amount', expense_date: 'TransactionDate' },
    description: 'Shorthand for the active field mappings: {source_field: target_field}',
  })
  @OptionalButNotNull()
  @IsSnakeCaseStringMap(RULES.jsonObject)
  @AsSent()
  field_mappings?: Record<string, string>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: STRING_MAP_VALUE, maxProperties: 200, nullable: true, example: { travel_km: '4001', toll: '4002' } })
  @IsOptional()
  @IsSnakeCaseStringMap(RULES.jsonObject)
  @AsSent()
  accounting_code_mappings?: Record<string, string> | null;

  @ApiPropertyOptional({ enum: SYNC_FREQUENCIES, default: 'manual' })
  @OptionalButNotNull()
  @IsIn(SYNC_FREQUENCIES, rule(RULES.syncFrequency, `sync_frequency must be one of: ${SYNC_FREQUENCIES.join(', ')}`))
  sync_frequency?: SyncFrequency;

  @ApiPropertyOptional({ type: String, nullable: true, format: 'uri', example: 'https://portal.example/webhooks/meander', description: 'https only; needs a webhook secret' })
  @IsOptional()
  @IsHttpsUrl(RULES.baseUrl)
  webhook_url?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    writeOnly: true,
    description:
      'Write-only: `whsec_` + base64 of 24–64 random bytes (no example: a secret is never to be copied from documentation). Or let the service generate one: POST /{id}/webhook-secret',
  })
  @IsOptional()
  @IsWebhookSecret(RULES.webhookSecret)
  webhook_secret?: string | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, maxProperties: 1000, nullable: true, example: { company_code: '1001' } })
  @IsOptional()
  @IsBoundedJsonObject(RULES.jsonObject)
  @AsSent()
  extra_config?: Record<string, unknown> | null;

  // Ciphertext columns are never written by clients.
  @ApiHideProperty()
  @MustBeAbsent(RULES.plaintext, ENCRYPTED_MESSAGE('api_key_encrypted'))
  api_key_encrypted?: never;

  @ApiHideProperty()
  @MustBeAbsent(RULES.plaintext, ENCRYPTED_MESSAGE('client_secret_encrypted'))
  client_secret_encrypted?: never;

  @ApiHideProperty()
  @MustBeAbsent(RULES.plaintext, ENCRYPTED_MESSAGE('webhook_secret_encrypted'))
  webhook_secret_encrypted?: never;
}

export class CreateIntegrationConfigDto extends IntegrationConfigWritableFields {
  @ApiProperty({ example: 'xledger', description: 'A registered integration type (GET /v1/integration-types)', pattern: SNAKE_CASE.source, maxLength: 64 })
  @IsKnownIntegrationType()
  integration_type: string;

  @ApiProperty({ example: 'Xledger production', maxLength: 200 })
  @IsBoundedString(RULES.displayName, { max: 200, trim: true }, { message: 'display_name must not be empty (at most 200 characters)' })
  display_name: string;

  @ApiPropertyOptional({ default: false })
  @OptionalButNotNull()
  @IsBoolean(rule('enabled_must_be_boolean', 'enabled must be true or false'))
  enabled?: boolean;
}

export class UpdateIntegrationConfigDto extends IntegrationConfigWritableFields {
  @ApiPropertyOptional({ description: 'false resumes deliveries paused after failed attempts (and starts counting failures afresh); true pauses them' })
  @OptionalButNotNull()
  @IsBoolean(rule('paused_must_be_boolean', 'paused must be true or false'))
  paused?: boolean;

  @ApiHideProperty()
  @MustBeAbsent(RULES.integrationTypeImmutable, 'integration_type cannot change: create a config of the other type instead')
  integration_type?: never;

  @ApiPropertyOptional({ example: 'Xledger production', maxLength: 200 })
  @OptionalButNotNull()
  @IsBoundedString(RULES.displayName, { max: 200, trim: true }, { message: 'display_name must not be empty (at most 200 characters)' })
  display_name?: string;

  @ApiPropertyOptional()
  @OptionalButNotNull()
  @IsBoolean(rule('enabled_must_be_boolean', 'enabled must be true or false'))
  enabled?: boolean;
}
