import { Controller, Get, HttpCode, Post, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, NoSideEffects, READ_ROLES, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { PageQueryDto } from '../common/pagination';
import { ResourceId } from '../http/resource-id.decorator';
import { NoQuery, ValidBulkBody, ValidQuery } from '../common/validation';
import { Located, LOCATION_HEADER } from '../http/created-location';
import { ApiProblemResponses, type ProblemSpec } from '../http/api-problem';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { BEARER_AUTH } from '../http/swagger';
import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import type { HttpReply } from '../http/http-types';
import { ExportRequestDto, ExportResultResponse, ExportRunListResponse, ExportRunResponse, ExportRunRowListResponse, RunExportRequestDto } from './dto/export.dto';
import { ExportRunService, MAX_EXPORT_MAPPINGS } from './export-run.service';

const RECORDS_PROBLEMS: ProblemSpec[] = [
  { status: 400, rules: ['records_must_be_objects', 'unknown_field'] },
  { status: 413, rules: ['payload_too_large'], description: 'Body over 10 MiB' },
];

@ApiTags('Exports')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@ApiParam({ name: 'integration_id', format: 'uuid' })
@ApiProblemResponses(401, { status: 403, rules: ['forbidden', 'org_scoped_access_only'] }, 404)
@Controller('v1/organizations/:org_id/integrations/:integration_id/exports')
export class ExportRunController {
  constructor(private readonly exports: ExportRunService) {}

  @Post('preview')
  @Roles(...READ_ROLES)
  @NoSideEffects()
  @HttpCode(200)
  @ApiOperation({ summary: 'Serialize up to 10,000 records with the active mappings; no side effects; coverage problems come back as warnings' })
  @ApiOkResponse({ type: ExportResultResponse })
  @ApiProblemResponses(...RECORDS_PROBLEMS, { status: 422, rules: ['export_output_within_bounds'], description: 'The mapped output would pass 16 MiB' })
  preview(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ValidBulkBody() body: ExportRequestDto, @NoQuery() _query: object) {
    return this.exports.preview(orgId, integrationId, body.records);
  }

  @Post()
  @Roles('org_admin', 'sync_service')
  @Idempotent()
  @Located((p, made) => `/v1/organizations/${p.org_id}/integrations/${p.integration_id}/exports/${made.id}`)
  @ApiOperation({
    summary: 'Run an export of up to 10,000 records and record it; the mappings it used become immutable',
    description: 'With `"deliver": true` the rows are also queued for delivery to the external system: 202, status `queued`.',
  })
  @ApiCreatedResponse({ type: ExportRunResponse, headers: LOCATION_HEADER })
  @ApiAcceptedResponse({ type: ExportRunResponse, description: 'Queued for delivery (`"deliver": true`): follow its delivery at Location', headers: LOCATION_HEADER })
  @ApiProblemResponses(
    { status: 400, rules: ['records_must_be_objects', 'deliver_must_be_boolean', 'idempotency_key_must_be_valid', 'unknown_field'] },
    RECORDS_PROBLEMS[1],
    {
      status: 409,
      rules: ['disabled_integration_must_not_sync', 'idempotency_key_in_use', 'conflict'],
      answers: { conflict: { detail: `The integration's mappings changed while the records were mapped, ${MAX_EXPORT_MAPPINGS} times: retry the export.` } },
    },
    { status: 422, rules: ['coverage_check_before_export', 'credentials_required_before_enable', 'export_output_within_bounds', 'idempotency_key_reused_with_other_request'] },
  )
  async run(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ValidBulkBody() body: RunExportRequestDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) reply: HttpReply,
  ) {
    const run = await this.exports.run(orgId, integrationId, body.records, principal, { deliver: body.deliver === true });
    if (body.deliver) reply.status(202);
    return run;
  }

  @Get(':id/rows')
  @Roles(...READ_ROLES)
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOperation({ summary: "A delivered run's rows and where each one's delivery stands, by index, paginated" })
  @ApiOkResponse({ type: ExportRunRowListResponse })
  @ApiProblemResponses({ status: 400, rules: ['limit_within_bounds', 'cursor_must_be_valid', 'unknown_field'] }, 404)
  rows(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ResourceId('id') id: string, @ValidQuery() page: PageQueryDto) {
    return this.exports.rows(orgId, integrationId, id, page);
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Export runs, newest first (summaries), paginated' })
  @ApiOkResponse({ type: ExportRunListResponse })
  @ApiProblemResponses({ status: 400, rules: ['limit_within_bounds', 'cursor_must_be_valid', 'unknown_field'] })
  list(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ValidQuery() page: PageQueryDto) {
    return this.exports.list(orgId, integrationId, page);
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOperation({ summary: 'One export run with its rows, skipped records and the mapping versions it used' })
  @ApiOkResponse({ type: ExportRunResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] })
  get(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ResourceId('id') id: string, @NoQuery() _query: object) {
    return this.exports.get(orgId, integrationId, id);
  }
}
