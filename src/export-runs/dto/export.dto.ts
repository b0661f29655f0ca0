import { ApiProperty } from '@nestjs/swagger';
import { CURSOR_SCHEMA, MAX_PAGE_SIZE } from '../../common/pagination';
import { isPlainObject, ruleDecorator } from '../../common/validators';
// De-duplicated per-record warnings kept, plus one `more_warnings_omitted:<n>`.
import { MAX_EXPORT_WARNINGS } from '../../export';

export const MAX_EXPORT_RECORDS = 10_000;
const WARNINGS = { type: 'array', items: { type: 'string', maxLength: 300 }, maxItems: MAX_EXPORT_WARNINGS + 1 } as const;
const CLAIM_ID = { type: String, nullable: true, maxLength: 255, description: "The record's claim_id, when it has a string one" };

export class ExportRequestDto {
  @ApiProperty({
    type: 'array',
    maxItems: MAX_EXPORT_RECORDS,
    items: { type: 'object', additionalProperties: true, maxProperties: 1000 },
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
  )
  records: Record<string, unknown>[];
}

export class MappingUsedResponse {
  @ApiProperty({ format: 'uuid' }) mapping_id: string;
  @ApiProperty({ example: 1 }) version: number;
}

export class ExportRowResponse {
  @ApiProperty({ example: 0, description: 'Position in the request' }) index: number;
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
  @ApiProperty({ example: 1 }) index: number;
  @ApiProperty(CLAIM_ID) claim_id: unknown;
  @ApiProperty({ example: 'missing_required_field:AccountCode', maxLength: 300 }) reason: string;
}

export class ExportResultResponse {
  @ApiProperty({ type: [ExportRowResponse], maxItems: MAX_EXPORT_RECORDS }) rows: ExportRowResponse[];
  @ApiProperty({ type: [ExportSkipResponse], maxItems: MAX_EXPORT_RECORDS }) skipped: ExportSkipResponse[];
  @ApiProperty({ ...WARNINGS, example: ['missing_target_field:AccountCode'] }) warnings: string[];
}

export class ExportRunSummaryResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) integration_id: string;
  @ApiProperty({ enum: ['completed'] }) status: string;
  @ApiProperty({ format: 'date-time' }) started_at: string;
  @ApiProperty({ format: 'date-time' }) finished_at: string;
  @ApiProperty() row_count: number;
  @ApiProperty() skipped_count: number;
  @ApiProperty({ type: [MappingUsedResponse], maxItems: 1000 }) mappings_used: MappingUsedResponse[];
  @ApiProperty({ format: 'uuid' }) created_by: string;
}

export class ExportRunResponse extends ExportRunSummaryResponse {
  @ApiProperty({ type: [ExportRowResponse], maxItems: MAX_EXPORT_RECORDS }) rows: ExportRowResponse[];
  @ApiProperty({ type: [ExportSkipResponse], maxItems: MAX_EXPORT_RECORDS }) skipped: ExportSkipResponse[];
  @ApiProperty(WARNINGS) warnings: string[];
}

export class ExportRunListResponse {
  @ApiProperty({ type: [ExportRunSummaryResponse], maxItems: MAX_PAGE_SIZE, description: 'Summaries; GET /{id} has the rows' }) items: ExportRunSummaryResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true }) next_cursor: string | null;
}
