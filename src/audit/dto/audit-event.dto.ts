import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { CURSOR_SCHEMA, MAX_PAGE_SIZE, PageQueryDto } from '../../common/pagination';
import { rule } from '../../common/validation';
import { IsRfc3339Timestamp } from '../../common/validators';
import { AUDIT_ACTIONS, AUDIT_RESOURCE_TYPES, type AuditAction } from '../audit-actions';

/** `GET …/audit-events`: a page, narrowed by resource, action and time. */
export class AuditEventQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: "Events of this resource; a config's id also lists its mappings' events" })
  @IsOptional()
  @IsUUID('all', rule('resource_id_must_be_uuid', 'resource_id must be a UUID'))
  resource_id?: string;

  @ApiPropertyOptional({ enum: AUDIT_ACTIONS })
  @IsOptional()
  @IsIn(AUDIT_ACTIONS, rule('audit_action_must_be_known_value', `action must be one of: ${AUDIT_ACTIONS.join(', ')}`))
  action?: AuditAction;

  @ApiPropertyOptional({ format: 'date-time', example: '2026-12-01T00:00:00Z', description: 'Events at or after this time' })
  @IsOptional()
  @IsRfc3339Timestamp()
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2026-12-06T00:00:00Z', description: 'Events before this time' })
  @IsOptional()
  @IsRfc3339Timestamp()
  to?: string;
}

export class AuditActorResponse {
  @ApiProperty({ format: 'uuid', description: 'The token subject (`sub`)' }) sub: string;
  @ApiProperty({ enum: ['org_admin', 'global_admin', 'sync_service'] }) role: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: "The actor's own organization (null for global_admin and sync_service)" }) organization_id:
    string | null;
}

export class AuditEventResponse {
  @ApiProperty({ format: 'uuid', example: '6a2f41c5-9d0e-4c43-8a57-2f0d8e1b7c11' }) id: string;
  @ApiProperty({ format: 'date-time', example: '2026-12-06T09:14:03.512Z' }) occurred_at: string;
  @ApiProperty({ type: AuditActorResponse, nullable: true, description: 'Who; null when no one was authenticated' }) actor: AuditActorResponse | null;
  @ApiProperty({ enum: AUDIT_RESOURCE_TYPES }) resource_type: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'The config, mapping, export run, sync run or alert endpoint acted on' }) resource_id: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'The integration config the resource belongs to' }) integration_id: string | null;
  @ApiProperty({ enum: AUDIT_ACTIONS }) action: string;
  @ApiProperty({
    type: 'array',
    items: { type: 'string', maxLength: 64 },
    maxItems: 64,
    example: ['api_key', 'enabled'],
    description: 'Names of the fields the change set (a credential is named, its value never stored)',
  })
  changed_fields: string[];
  @ApiProperty({ type: String, nullable: true, maxLength: 128, example: 'req-8f14e45f', description: 'The X-Request-Id of the request' }) request_id: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { ok: false },
    description: 'What else the action says (e.g. `rule` and `method` of a refusal, `ok` of a connection test, `queued_runs` of a delivery request); never a secret',
  })
  details: Record<string, unknown>;
}

export class AuditEventListResponse {
  @ApiProperty({ type: [AuditEventResponse], maxItems: MAX_PAGE_SIZE }) items: AuditEventResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true }) next_cursor: string | null;
}
