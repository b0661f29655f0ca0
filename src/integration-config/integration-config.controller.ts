import type { Rule } from '../common/rules';
import { Controller, Delete, Get, Headers, HttpCode, Patch, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, READ_ROLES, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { etagFor, isNotModified } from '../common/if-match';
import { PageQueryDto } from '../common/pagination';
import { ResourceId } from '../http/resource-id.decorator';
import { NoFieldsDto, NoQuery, ValidBody, ValidQuery } from '../common/validation';
import { Located, LOCATION_HEADER } from '../http/created-location';
import { ApiProblemResponses, invalid, keyNotSupportedAnswer, type ProblemSpec } from '../http/api-problem';

import { Idempotent } from '../idempotency/idempotent.decorator';
import { RefusesIdempotencyKey, ROTATE_AGAIN } from '../idempotency/refuses-idempotency-key.decorator';
import type { HttpReply } from '../http/http-types';
import { ApiNoFieldsBody, BEARER_AUTH } from '../http/swagger';
import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import { CreateIntegrationConfigDto, RULES, UpdateIntegrationConfigDto } from './dto/integration-config-request.dto';
import { IntegrationConfigListResponse, IntegrationConfigResponse, WebhookSecretResponse } from './dto/integration-config-response.dto';
import { RecordSyncRunDto, SyncRunListResponse, SyncRunResponse } from './dto/sync-run.dto';
import { IntegrationConfigService } from './integration-config.service';

const VALIDATION_RULES: Rule[] = [
  RULES.baseUrl,
  RULES.jsonObject,
  RULES.displayName,
  'integration_type_must_be_known_value',
  RULES.plaintext,
  RULES.syncFrequency,
  RULES.webhookSecret,
  'unknown_field',
  // A target of the field_mappings shorthand (field-mapping.service.ts applyShorthand).
  'target_field_must_not_be_reserved',
];
/** The shorthand's words for a reserved target (the mapping routes' come from their DTO's validator). */
const SHORTHAND_ANSWERS: ProblemSpec['answers'] = {
  target_field_must_not_be_reserved: invalid([{ field: 'field_mappings.description', rule: 'target_field_must_not_be_reserved', message: 'a target field must not be __proto__' }]),
};
const IF_MATCH = ApiHeader({
  name: 'If-Match',
  required: false,
  description: 'The ETag ("<revision>") you read; a stale one gets 412',
  schema: { type: 'string', maxLength: 1024, example: '"3"' },
});
const ID = ApiParam({ name: 'id', format: 'uuid', description: 'Integration config id' });
const ETAG_HEADER = { ETag: { description: 'The revision, quoted: send it back in If-Match', schema: { type: 'string', pattern: '^"[0-9]{1,18}"$', maxLength: 20 } } };

@ApiTags('Integration configs')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@ApiProblemResponses(401, { status: 403, rules: ['forbidden', 'org_scoped_access_only'] })
@Controller('v1/organizations/:org_id/integrations')
export class IntegrationConfigController {
  constructor(private readonly configs: IntegrationConfigService) {}

  @Post()
  @Roles('org_admin')
  @Idempotent()
  @Located((p, made) => `/v1/organizations/${p.org_id}/integrations/${made.id}`)
  @ApiOperation({ summary: 'Create a config (one per integration type per organization)' })
  @ApiBody({
    type: CreateIntegrationConfigDto,
    examples: {
      xledger: {
        value: {
          integration_type: 'xledger',
          display_name: 'Xledger production',
          base_url: 'https://api.xledger.example/graphql',
          api_key: 'xl-secret-api-key',
          sync_frequency: 'daily',
          accounting_code_mappings: { travel_km: '4001' },
        },
      },
    },
  })
  @ApiCreatedResponse({ type: IntegrationConfigResponse, headers: { ...ETAG_HEADER, ...LOCATION_HEADER } })
  @ApiProblemResponses(
    { status: 400, rules: [...VALIDATION_RULES, 'sync_time_zone_must_be_iana_zone', 'idempotency_key_must_be_valid'], answers: SHORTHAND_ANSWERS },
    { status: 409, rules: ['one_config_per_integration_type_per_org', 'idempotency_key_in_use'] },
    {
      status: 422,
      rules: [
        'credentials_required_before_enable',
        'dataverse_names_must_be_schema_names',
        'webhook_secret_required_for_inbound_webhooks',
        'source_field_must_exist_in_internal_schema',
        'idempotency_key_reused_with_other_request',
      ],
    },
  )
  async create(
    @OrgId() orgId: string,
    @ValidBody() body: CreateIntegrationConfigDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) res: HttpReply,
  ) {
    const config = await this.configs.create(orgId, body, principal);
    res.header('ETag', etagFor(config.revision));
    return config;
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: "List the organization's configs" })
  @ApiOkResponse({ type: IntegrationConfigListResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] })
  async list(@OrgId() orgId: string, @NoQuery() _query: object): Promise<IntegrationConfigListResponse> {
    return { items: await this.configs.list(orgId), next_cursor: null };
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ID
  @ApiOperation({ summary: 'Read one config' })
  @ApiOkResponse({ type: IntegrationConfigResponse, headers: ETAG_HEADER })
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description: 'The ETag of the copy the client holds: 304 without a body when it is still current',
    schema: { type: 'string', maxLength: 1024, example: '"3"' },
  })
  @ApiResponse({ status: 304, description: "Not modified: the client's copy (If-None-Match) is the current revision", headers: ETAG_HEADER })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, 404)
  async get(
    @OrgId() orgId: string,
    @ResourceId('id') id: string,
    @NoQuery() _query: object,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) res: HttpReply,
  ) {
    const config = await this.configs.get(orgId, id);
    res.header('ETag', etagFor(config.revision));
    if (isNotModified(ifNoneMatch, config.revision)) {
      res.status(304);
      return undefined;
    }
    return config;
  }

  @Patch(':id')
  @Roles('org_admin')
  @ID
  @IF_MATCH
  @ApiOperation({
    summary: 'Update a config; secrets: a string sets or rotates, null clears, absence keeps',
    description:
      'A base_url on another host (scheme, name or port) needs the stored api_key / client_secret given again in the same request (422 credentials_required_for_new_base_url): a stored secret never follows a URL change by itself.',
  })
  @ApiOkResponse({ type: IntegrationConfigResponse })
  @ApiProblemResponses(
    { status: 400, rules: [...VALIDATION_RULES, 'sync_time_zone_must_be_iana_zone', 'integration_type_cannot_change'], answers: SHORTHAND_ANSWERS },
    404,
    412,
    { status: 409, rules: ['immutable_after_export_use', 'unique_source_field_per_integration'] },
    {
      status: 422,
      rules: [
        'credentials_required_before_enable',
        'credentials_required_for_new_base_url',
        'dataverse_names_must_be_schema_names',
        'webhook_secret_required_for_inbound_webhooks',
        'source_field_must_exist_in_internal_schema',
      ],
    },
  )
  async update(
    @OrgId() orgId: string,
    @ResourceId('id') id: string,
    @ValidBody() body: UpdateIntegrationConfigDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() principal: Principal,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) res: HttpReply,
  ) {
    const config = await this.configs.update(orgId, id, body, principal, ifMatch);
    res.header('ETag', etagFor(config.revision));
    return config;
  }

  @Delete(':id')
  @Roles('org_admin')
  @HttpCode(204)
  @ID
  @IF_MATCH
  @ApiOperation({ summary: 'Delete a config with its field mappings, sync runs and exports (cascade)' })
  @ApiNoContentResponse()
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, 404, 412)
  async remove(
    @OrgId() orgId: string,
    @ResourceId('id') id: string,
    @NoQuery() _query: object,
    @CurrentPrincipal() principal: Principal,
    @Headers('if-match') ifMatch: string | undefined,
  ) {
    await this.configs.remove(orgId, id, principal, ifMatch);
  }

  @Post(':id/webhook-secret')
  @Roles('org_admin')
  @RefusesIdempotencyKey(ROTATE_AGAIN)
  @ID
  @ApiOperation({ summary: 'Generate a new webhook secret: shown once; the previous one keeps verifying for 24 hours' })
  @ApiNoFieldsBody()
  @ApiCreatedResponse({ type: WebhookSecretResponse })
  @ApiProblemResponses({ status: 400, rules: ['idempotency_key_not_supported', 'unknown_field'], answers: keyNotSupportedAnswer(ROTATE_AGAIN) }, 404)
  async rotateWebhookSecret(
    @OrgId() orgId: string,
    @ResourceId('id') id: string,
    @ValidBody() _body: NoFieldsDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() principal: Principal,
  ): Promise<WebhookSecretResponse> {
    return { webhook_secret: await this.configs.rotateWebhookSecret(orgId, id, principal) };
  }

  @Post(':id/sync-runs')
  @Roles('org_admin', 'sync_service')
  @Idempotent()
  @ID
  @ApiOperation({ summary: "Record one sync attempt; updates the config's last_sync_* in the same transaction" })
  @ApiCreatedResponse({ type: SyncRunResponse })
  @ApiProblemResponses(
    {
      status: 400,
      rules: [
        'sync_status_must_be_known_value',
        'timestamp_must_be_iso8601',
        'error_required_unless_success',
        'record_count_non_negative',
        'finished_at_not_before_started_at',
        'idempotency_key_must_be_valid',
        'unknown_field',
      ],
    },
    404,
    { status: 409, rules: ['disabled_integration_must_not_sync', 'idempotency_key_in_use'] },
    { status: 422, rules: ['idempotency_key_reused_with_other_request'] },
  )
  recordSyncRun(@OrgId() orgId: string, @ResourceId('id') id: string, @ValidBody() body: RecordSyncRunDto, @NoQuery() _query: object, @CurrentPrincipal() principal: Principal) {
    return this.configs.recordSyncRun(orgId, id, body, principal);
  }

  @Get(':id/sync-runs')
  @Roles(...READ_ROLES)
  @ID
  @ApiOperation({ summary: 'Sync history, newest first, paginated' })
  @ApiOkResponse({ type: SyncRunListResponse })
  @ApiProblemResponses({ status: 400, rules: ['limit_within_bounds', 'cursor_must_be_valid', 'unknown_field'] }, 404)
  listSyncRuns(@OrgId() orgId: string, @ResourceId('id') id: string, @ValidQuery() page: PageQueryDto) {
    return this.configs.listSyncRuns(orgId, id, page);
  }
}
