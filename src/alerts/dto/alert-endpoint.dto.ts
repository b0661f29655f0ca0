import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsBoundedString, IsHttpsUrl } from '../../common/validators';
import { CURSOR_SCHEMA } from '../../common/pagination';
import { ALERT_TYPES } from '../alert-event';

export const MAX_ALERT_ENDPOINTS = 10;

export class CreateAlertEndpointDto {
  @ApiProperty({
    format: 'uri',
    example: 'https://ops.example.org/hooks/meander',
    description: 'https only; outbound egress rules apply (no loopback, private or link-local address)',
  })
  @IsHttpsUrl('base_url_must_be_https')
  url: string;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 200, example: 'On-call channel' })
  @IsOptional()
  @IsBoundedString('display_name_not_empty', { max: 200, trim: true })
  description?: string | null;
}

export class AlertEndpointResponse {
  @ApiProperty({ format: 'uuid', example: '3f6c2a9e-8b1d-4e7a-9c55-0d2b7e4f1a63' }) id: string;
  @ApiProperty({ format: 'uri', maxLength: 2048, example: 'https://ops.example.org/hooks/meander' }) url: string;
  @ApiProperty({ type: String, nullable: true, maxLength: 200, example: 'On-call channel' }) description: string | null;
  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...ALERT_TYPES] },
    maxItems: ALERT_TYPES.length,
    readOnly: true,
    description: 'What it receives: every alert type (not chosen: a create that sends `events` is refused as unknown_field)',
  })
  events: string[];
  @ApiProperty({ format: 'uuid', example: '9b1e4c7d-2a5f-4e08-b3d6-71c0f8a2e594' }) created_by: string;
  @ApiProperty({ format: 'date-time', example: '2026-12-06T09:14:03.512Z' }) created_at: string;
}

export class AlertEndpointCreatedResponse extends AlertEndpointResponse {
  @ApiProperty({
    description: 'The Standard Webhooks signing secret (`whsec_` + base64 of 32 random bytes), shown this once',
    pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
    maxLength: 94,
  })
  signing_secret: string;
}

export class AlertSecretResponse {
  @ApiProperty({ description: 'The new signing secret, shown this once; the previous one stops signing at once', pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$', maxLength: 94 })
  signing_secret: string;
}

export class AlertEndpointListResponse {
  @ApiProperty({ type: [AlertEndpointResponse], maxItems: MAX_ALERT_ENDPOINTS }) items: AlertEndpointResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true, example: null, description: `Always null: an organization has at most ${MAX_ALERT_ENDPOINTS}` }) next_cursor: null;
}
