import type { Rule } from '../common/rules';
import { Controller, Delete, Get, HttpCode, Patch, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, NoSideEffects, READ_ROLES, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { ResourceId } from '../http/resource-id.decorator';
import { NoQuery, ValidBody, ValidQuery } from '../common/validation';
import { Located, LOCATION_HEADER } from '../http/created-location';
import { ApiProblemResponses, type ProblemSpec } from '../http/api-problem';
import { BEARER_AUTH } from '../http/swagger';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import {
  BulkCreateFieldMappingsDto,
  CreateFieldMappingDto,
  FieldMappingListQueryDto,
  MAPPING_RULES,
  PreviewMappingDto,
  ReorderFieldMappingsDto,
  UpdateFieldMappingDto,
} from './dto/field-mapping-request.dto';
import {
  CoverageResponse,
  FieldMappingListResponse,
  FieldMappingResponse,
  FieldMappingWriteListResponse,
  FieldMappingWriteResponse,
  PreviewResponse,
} from './dto/field-mapping-response.dto';
import { FieldMappingService } from './field-mapping.service';

const VALIDATION_RULES: Rule[] = [...Object.values(MAPPING_RULES), 'unknown_field'];
const VALIDATION: ProblemSpec = { status: 400, rules: VALIDATION_RULES };
const BUSINESS_RULES: Rule[] = ['source_field_must_exist_in_internal_schema', 'required_fields_must_have_default_or_reliable_source', 'transform_config_must_match_transform_type'];
const BUSINESS: ProblemSpec = { status: 422, rules: BUSINESS_RULES };
// The POSTs that write take an Idempotency-Key (@Idempotent()): its refusals besides the route's own.
const IDEMPOTENT_VALIDATION: ProblemSpec = { status: 400, rules: [...VALIDATION_RULES, 'idempotency_key_must_be_valid'] };
const IDEMPOTENT_BUSINESS: ProblemSpec = { status: 422, rules: [...BUSINESS_RULES, 'idempotency_key_reused_with_other_request'] };
const ID = ApiParam({ name: 'id', format: 'uuid', description: 'Field mapping id' });

const EXAMPLES = {
  direct: { value: { source_field: 'expense_amount', target_field: 'Amount', is_required: true } },
  format: {
    value: {
      source_field: 'expense_date',
      target_field: 'TransactionDate',
      transform_type: 'format',
      transform_config: { format: 'dd.MM.yyyy', time_zone: 'Europe/Oslo' },
      is_required: true,
    },
  },
  lookup: {
    value: {
      source_field: 'expense_type',
      target_field: 'AccountCode',
      transform_type: 'lookup',
      transform_config: { map: { travel_km: '4001', toll: '4002' } },
      default_value: '4999',
      is_required: true,
    },
  },
  computed: {
    value: { source_field: 'km_distance', target_field: 'Mileage', transform_type: 'computed', transform_config: { expression: 'round(km_distance * 4.5 + toll_amount)' } },
  },
  static: { value: { source_field: 'currency', target_field: 'CurrencyCode', transform_type: 'static', transform_config: { value: 'NOK' } } },
};

/** Where a mapping (or a new version of one) is read. */
const mappingLocation = (p: Record<string, string>, made: { id: string }) => `/v1/organizations/${p.org_id}/integrations/${p.integration_id}/field-mappings/${made.id}`;

@ApiTags('Field mappings')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@ApiParam({ name: 'integration_id', format: 'uuid' })
@ApiProblemResponses(401, { status: 403, rules: ['forbidden', 'org_scoped_access_only'] }, 404)
@Controller('v1/organizations/:org_id/integrations/:integration_id/field-mappings')
export class FieldMappingController {
  constructor(private readonly mappings: FieldMappingService) {}

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'List the current mappings, by sort_order then source_field' })
  @ApiOkResponse({ type: FieldMappingListResponse })
  @ApiProblemResponses({ status: 400, rules: ['is_active_must_be_boolean', 'unknown_field'] })
  async list(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ValidQuery() query: FieldMappingListQueryDto): Promise<FieldMappingListResponse> {
    const isActive = query.is_active === undefined ? undefined : query.is_active === 'true';
    return { items: await this.mappings.list(orgId, integrationId, isActive), next_cursor: null };
  }

  @Post()
  @Roles('org_admin')
  @Idempotent()
  @Located(mappingLocation)
  @ApiOperation({ summary: 'Create a mapping' })
  @ApiBody({ type: CreateFieldMappingDto, examples: EXAMPLES })
  @ApiCreatedResponse({ type: FieldMappingWriteResponse, headers: LOCATION_HEADER })
  @ApiProblemResponses(IDEMPOTENT_VALIDATION, { status: 409, rules: ['unique_source_field_per_integration', 'idempotency_key_in_use'] }, IDEMPOTENT_BUSINESS)
  async create(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ValidBody() body: CreateFieldMappingDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ) {
    const [created] = await this.mappings.withWriteWarnings(orgId, integrationId, [await this.mappings.create(orgId, integrationId, body, actor)]);
    return created;
  }

  @Post('bulk')
  @Roles('org_admin')
  @Idempotent()
  @ApiOperation({ summary: 'Create many mappings, all or nothing; errors[].field is prefixed items[i].' })
  @ApiBody({ type: BulkCreateFieldMappingsDto, examples: { xledger: { value: { items: [EXAMPLES.direct.value, EXAMPLES.format.value, EXAMPLES.lookup.value] } } } })
  @ApiCreatedResponse({ type: FieldMappingWriteListResponse })
  @ApiProblemResponses(IDEMPOTENT_VALIDATION, { status: 409, rules: ['unique_source_field_per_integration', 'idempotency_key_in_use'] }, IDEMPOTENT_BUSINESS)
  async bulk(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ValidBody() body: BulkCreateFieldMappingsDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ) {
    return { items: await this.mappings.withWriteWarnings(orgId, integrationId, await this.mappings.bulkCreate(orgId, integrationId, body.items, actor)) };
  }

  @Put('order')
  @Roles('org_admin')
  @ApiOperation({ summary: 'Set sort_order 0..n-1 in the order given; unlisted mappings follow in their order' })
  @ApiBody({ type: ReorderFieldMappingsDto, examples: { two_first: { value: { ids: ['8d0c6a52-3b1e-4f6a-9c2d-1e0f9a8b7c6d', '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'] } } } })
  @ApiOkResponse({ type: FieldMappingListResponse })
  @ApiProblemResponses(
    { status: 400, rules: ['ids_must_be_uuids', 'ids_must_be_unique', 'ids_within_bounds', 'unknown_field'] },
    { status: 422, rules: ['order_ids_must_belong_to_integration'] },
  )
  async reorder(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ValidBody() body: ReorderFieldMappingsDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ): Promise<FieldMappingListResponse> {
    return { items: await this.mappings.reorder(orgId, integrationId, body.ids, actor), next_cursor: null };
  }

  @Get('coverage')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Whether every required target field of the type is mapped by an active mapping' })
  @ApiOkResponse({ type: CoverageResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] })
  coverage(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @NoQuery() _query: object) {
    return this.mappings.coverage(orgId, integrationId);
  }

  @Post('preview')
  @Roles(...READ_ROLES)
  @NoSideEffects()
  @HttpCode(200)
  @ApiOperation({ summary: 'Resolve one sample record through the active mappings; no side effects' })
  @ApiOkResponse({ type: PreviewResponse })
  @ApiProblemResponses({ status: 400, rules: ['record_must_be_object', 'unknown_field'] })
  preview(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ValidBody() body: PreviewMappingDto, @NoQuery() _query: object) {
    return this.mappings.preview(orgId, integrationId, body.record);
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ID
  @ApiOperation({ summary: 'Read one mapping (any version)' })
  @ApiOkResponse({ type: FieldMappingResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] })
  get(@OrgId() orgId: string, @ResourceId('integration_id') integrationId: string, @ResourceId('id') id: string, @NoQuery() _query: object) {
    return this.mappings.get(orgId, integrationId, id);
  }

  @Patch(':id')
  @Roles('org_admin')
  @ID
  @ApiOperation({ summary: 'Update a mapping; once used by an export only display_label, sort_order and is_active change' })
  @ApiOkResponse({ type: FieldMappingWriteResponse })
  @ApiProblemResponses(VALIDATION, { status: 409, rules: ['unique_source_field_per_integration', 'immutable_after_export_use', 'mapping_version_superseded'] }, BUSINESS)
  async update(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ResourceId('id') id: string,
    @ValidBody() body: UpdateFieldMappingDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ) {
    const [updated] = await this.mappings.withWriteWarnings(orgId, integrationId, [await this.mappings.update(orgId, integrationId, id, body, actor)]);
    return updated;
  }

  @Delete(':id')
  @Roles('org_admin')
  @HttpCode(204)
  @ID
  @ApiOperation({ summary: 'Delete a mapping (refused once used by an export: deactivate it instead)' })
  @ApiNoContentResponse()
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, { status: 409, rules: ['immutable_after_export_use', 'mapping_version_superseded'] })
  async remove(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ResourceId('id') id: string,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ) {
    await this.mappings.remove(orgId, integrationId, id, actor);
  }

  @Post(':id/versions')
  @Roles('org_admin')
  @ID
  @Idempotent()
  @Located(mappingLocation)
  @ApiOperation({ summary: 'New version of a mapping with the fields to change: version + 1; the old one becomes inactive and is kept' })
  @ApiCreatedResponse({ type: FieldMappingWriteResponse, headers: LOCATION_HEADER })
  @ApiProblemResponses(
    IDEMPOTENT_VALIDATION,
    { status: 409, rules: ['unique_source_field_per_integration', 'mapping_version_superseded', 'idempotency_key_in_use'] },
    IDEMPOTENT_BUSINESS,
  )
  async createVersion(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ResourceId('id') id: string,
    @ValidBody() body: UpdateFieldMappingDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ) {
    const [created] = await this.mappings.withWriteWarnings(orgId, integrationId, [await this.mappings.createVersion(orgId, integrationId, id, body, actor)]);
    return created;
  }

  @Get(':id/versions')
  @Roles(...READ_ROLES)
  @ID
  @ApiOperation({ summary: 'The whole version chain, oldest first' })
  @ApiOkResponse({ type: FieldMappingListResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] })
  async versions(
    @OrgId() orgId: string,
    @ResourceId('integration_id') integrationId: string,
    @ResourceId('id') id: string,
    @NoQuery() _query: object,
  ): Promise<FieldMappingListResponse> {
    return { items: await this.mappings.versions(orgId, integrationId, id), next_cursor: null };
  }
}
