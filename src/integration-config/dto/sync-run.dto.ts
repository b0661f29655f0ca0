import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsISO8601, IsOptional, Matches, Max, Min, ValidateIf } from 'class-validator';
import { rule } from '../../common/validation';
import { IsBoundedString } from '../../common/validators';
import { CURSOR_SCHEMA, MAX_PAGE_SIZE } from '../../common/pagination';
import { SYNC_STATUSES, type SyncStatus } from '../integration-config.entity';

const ISO = { strict: true, strictSeparator: true };
// RFC 3339's profile of ISO 8601 only: ISO's week dates (2026-W01-1), ordinal dates (2026-032),
// basic format (20260101T000000Z), hour-only times and comma fractions pass IsISO8601 but are
// read otherwise, or refused, by PostgreSQL. IsISO8601 still checks the calendar (no 02-30).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export class RecordSyncRunDto {
  @ApiProperty({ enum: SYNC_STATUSES })
  @IsIn(SYNC_STATUSES, rule('sync_status_must_be_known_value', `status must be one of: ${SYNC_STATUSES.join(', ')}`))
  status: SyncStatus;

  @ApiProperty({ format: 'date-time', example: '2026-11-22T10:00:00.000Z' })
  @IsISO8601(ISO, rule('timestamp_must_be_iso8601', 'started_at must be an RFC 3339 timestamp'))
  @Matches(RFC3339, rule('timestamp_must_be_iso8601', 'started_at must be an RFC 3339 timestamp'))
  @IsBoundedString('timestamp_must_be_iso8601', { max: 40 })
  started_at: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Default: now' })
  @IsOptional()
  @IsISO8601(ISO, rule('timestamp_must_be_iso8601', 'finished_at must be an RFC 3339 timestamp'))
  @Matches(RFC3339, rule('timestamp_must_be_iso8601', 'finished_at must be an RFC 3339 timestamp'))
  @IsBoundedString('timestamp_must_be_iso8601', { max: 40 })
  finished_at?: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'Required unless status is success', maxLength: 10000 })
  @ValidateIf((o: RecordSyncRunDto) => o.status !== 'success' || (o.error !== undefined && o.error !== null))
  @IsBoundedString('error_required_unless_success', { max: 10_000, trim: true }, { message: 'error is required (1 to 10000 characters) unless status is success' })
  error?: string | null;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @IsInt(rule('record_count_non_negative', 'records_pushed must be a non-negative integer'))
  @Min(0, rule('record_count_non_negative', 'records_pushed must be a non-negative integer'))
  @Max(2_147_483_647, rule('record_count_non_negative'))
  records_pushed?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @IsInt(rule('record_count_non_negative', 'records_pulled must be a non-negative integer'))
  @Min(0, rule('record_count_non_negative', 'records_pulled must be a non-negative integer'))
  @Max(2_147_483_647, rule('record_count_non_negative'))
  records_pulled?: number;
}

export class SyncRunResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) integration_id: string;
  @ApiProperty({ enum: SYNC_STATUSES }) status: string;
  @ApiProperty({ format: 'date-time' }) started_at: string;
  @ApiProperty({ format: 'date-time' }) finished_at: string;
  @ApiProperty({ type: String, nullable: true, maxLength: 10_000 }) error: string | null;
  @ApiProperty() records_pushed: number;
  @ApiProperty() records_pulled: number;
  @ApiProperty({ format: 'uuid', description: 'sub of the token that recorded it' }) recorded_by: string;
  @ApiProperty({ format: 'date-time' }) created_at: string;
}

export class SyncRunListResponse {
  @ApiProperty({ type: [SyncRunResponse], maxItems: MAX_PAGE_SIZE }) items: SyncRunResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true, description: 'Pass as ?cursor= for the next (older) page' }) next_cursor: string | null;
}
