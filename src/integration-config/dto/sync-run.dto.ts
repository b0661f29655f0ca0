import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';
import { rule } from '../../common/validation';
import { IsBoundedString, IsRfc3339Timestamp } from '../../common/validators';
import { CURSOR_SCHEMA, MAX_PAGE_SIZE } from '../../common/pagination';
import { SYNC_STATUSES, type SyncStatus } from '../integration-config.entity';

export class RecordSyncRunDto {
  @ApiProperty({ enum: SYNC_STATUSES })
  @IsIn(SYNC_STATUSES, rule('sync_status_must_be_known_value', `status must be one of: ${SYNC_STATUSES.join(', ')}`))
  status: SyncStatus;

  @ApiProperty({ format: 'date-time', example: '2026-11-22T10:00:00.000Z' })
  @IsRfc3339Timestamp()
  started_at: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Default: now' })
  @IsOptional()
  @IsRfc3339Timestamp()
  finished_at?: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'Required unless status is success', maxLength: 10000, example: null })
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
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 2_147_483_647, example: 12 }) records_pushed: number;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 2_147_483_647, example: 0 }) records_pulled: number;
  @ApiProperty({ format: 'uuid', description: 'sub of the token that recorded it' }) recorded_by: string;
  @ApiProperty({ format: 'date-time' }) created_at: string;
}

export class SyncRunListResponse {
  @ApiProperty({ type: [SyncRunResponse], maxItems: MAX_PAGE_SIZE }) items: SyncRunResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true, description: 'Pass as ?cursor= for the next (older) page' }) next_cursor: string | null;
}
