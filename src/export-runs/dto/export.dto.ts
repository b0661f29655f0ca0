import { ApiProperty } from '@nestjs/swagger';
import { CURSOR_SCHEMA, MAX_PAGE_SIZE } from '../../common/pagination';
import { IsBoolean } from 'class-validator';
import { rule } from '../../common/validation';
import { MAX_SYNC_ERROR_LENGTH } from '../../integration-config/sync-error';
import { isPlainObject, OptionalButNotNull, ruleDecorator } from '../../common/validators';
import { EXPORT_RUN_STATUSES, type ExportRunStatus } from '../export-run.entity';
// De-duplicated warnings kept (coverage, per record, per row delivery would refuse), plus one `more_warnings_omitted:<n>`.
import { MAX_EXPORT_WARNINGS, MAX_WARNING_LENGTH } from '../../export';

export const MAX_EXPORT_RECORDS = 10_000;
const WARNINGS = {
  type: 'array',
  items: { type: 'string', maxLength: MAX_WARNING_LENGTH },
  maxItems: MAX_EXPORT_WARNINGS + 1,
  description:
    '`<rule>:<target>` (`missing_target_field:AccountCode`, `formula_error:Amount`); `delivery_would_refuse:<index>:<message>` for a row the connector would refuse at delivery, in its words; at most 100, then `more_warnings_omitted:<n>`',
} as const;
const CLAIM_ID = { type: String, nullable: true, maxLength: 255, description: "The record's claim_id, when it has a string one" };

export class ExportRequestDto {
  @ApiProperty({
    type: 'array',
    maxItems: MAX_EXPORT_RECORDS,
    items: { type: 'object', additionalProperties: true },
    example: [
      { claim_id: '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b', expense_type: 'travel_km', expense_amount: 120.5, expense_date: '2026-11-20', expense_line: { km_distance: 42 } },
    ],
    description: 'Expense claims in the internal schema (GET /v1/integration-types); unknown keys are ignored',
  })
  @ruleDecorator(
    'isRecordArray',
    'records_must_be_objects',
    (value) => Array.isArray(value) && value.length <= MAX_EXPORT_RECORDS && value.every(isPlainObject),
    () => `records must be an array of at most ${MAX_EXPORT_RECORDS} JSON objects`,
    {},
    { type: 'array', maxItems: MAX_EXPORT_RECORDS, items: { type: 'object' } },
  )
  records: Record<string, unknown>[];
}

/** `POST …/exports`: the preview's body, and whether to deliver the rows. */
export class RunExportRequestDto extends ExportRequestDto {
  @ApiProperty({ required: false, default: false, description: 'Queue the rows for delivery to the external system (202, status queued)' })
  @OptionalButNotNull()
  @IsBoolean(rule('deliver_must_be_boolean', 'deliver must be true or false'))
  deliver?: boolean;
}

export class ExportRunRowStateResponse {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS - 1, example: 0 }) index: number;
  @ApiProperty({ ...CLAIM_ID, example: '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b' }) claim_id: string | null;
  @ApiProperty({ enum: ['pending', 'delivered', 'failed', 'skipped'] }) status: string;
  @ApiProperty({ type: String, nullable: true, maxLength: 255, example: 'GL-100234', description: "The record's id in the external system, once delivered" }) external_id:
    string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    maxLength: MAX_SYNC_ERROR_LENGTH,
    example: null,
    description: 'Why the system refused the row (secrets scrubbed), or why it was skipped',
  })
  error: string | null;
}

export class ExportRunRowListResponse {
  @ApiProperty({ type: [ExportRunRowStateResponse], maxItems: MAX_PAGE_SIZE }) items: ExportRunRowStateResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true }) next_cursor: string | null;
}

export class MappingUsedResponse {
  @ApiProperty({ format: 'uuid' }) mapping_id: string;
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 1 }) version: number;
}

export class ExportRowResponse {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS - 1, example: 0, description: 'Position in the request' }) index: number;
  @ApiProperty({ ...CLAIM_ID, example: '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b' }) claim_id: unknown;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    maxProperties: 1000,
    example: { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '4001' },
    description: "Keys in the mappings' sort_order",
  })
  output: Record<string, unknown>;
}

export class ExportSkipResponse {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS - 1, example: 1 }) index: number;
  @ApiProperty({ ...CLAIM_ID, example: '7d1e5b3a-2c4f-4e8a-b9d0-6f1a2b3c4d5e' }) claim_id: unknown;
  @ApiProperty({ example: 'missing_required_field:AccountCode', maxLength: MAX_WARNING_LENGTH }) reason: string;
}

export class ExportResultResponse {
  @ApiProperty({ type: [ExportRowResponse], maxItems: MAX_EXPORT_RECORDS }) rows: ExportRowResponse[];
  @ApiProperty({ type: [ExportSkipResponse], maxItems: MAX_EXPORT_RECORDS }) skipped: ExportSkipResponse[];
  @ApiProperty({ ...WARNINGS, example: ['missing_target_field:AccountCode'] }) warnings: string[];
}

export class ExportDeliveryResponse {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 100, example: 1, description: 'Delivery attempts so far (each one is a sync run)' }) attempts: number;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS, example: 12 }) delivered_count: number;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS, example: 0, description: 'Rows the external system refused' }) failed_count: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When the next attempt is due, after a failed one' }) next_attempt_at: string | null;
  @ApiProperty({ type: String, nullable: true, maxLength: MAX_SYNC_ERROR_LENGTH, example: null }) last_error: string | null;
}

export class ExportRunSummaryResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) integration_id: string;
  @ApiProperty({
    enum: EXPORT_RUN_STATUSES,
    description: '`completed`: serialized, not delivered; the others follow a delivery (`"deliver": true`)',
  })
  status: ExportRunStatus;
  @ApiProperty({ format: 'date-time' }) started_at: string;
  @ApiProperty({ format: 'date-time' }) finished_at: string;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS, example: 12 }) row_count: number;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_EXPORT_RECORDS, example: 1 }) skipped_count: number;
  @ApiProperty({ type: [MappingUsedResponse], maxItems: 1000 }) mappings_used: MappingUsedResponse[];
  @ApiProperty({ format: 'uuid' }) created_by: string;
  @ApiProperty({ type: ExportDeliveryResponse, nullable: true, description: 'null for a run that is not delivered' }) delivery: ExportDeliveryResponse | null;
}

export class ExportRunResponse extends ExportRunSummaryResponse {
  @ApiProperty({ type: [ExportRowResponse], maxItems: MAX_EXPORT_RECORDS }) rows: ExportRowResponse[];
  @ApiProperty({ type: [ExportSkipResponse], maxItems: MAX_EXPORT_RECORDS }) skipped: ExportSkipResponse[];
  @ApiProperty({ ...WARNINGS, example: ['missing_target_field:AccountCode'] }) warnings: string[];
}

export class ExportRunListResponse {
  @ApiProperty({ type: [ExportRunSummaryResponse], maxItems: MAX_PAGE_SIZE, description: 'Summaries; GET /{id} has the rows' }) items: ExportRunSummaryResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true }) next_cursor: string | null;
}
