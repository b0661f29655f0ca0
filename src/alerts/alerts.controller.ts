import { Controller, Delete, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { NoFieldsDto, NoQuery, ValidBody } from '../common/validation';
import { Located, LOCATION_HEADER } from '../http/created-location';
import { ApiProblemResponses, keyNotSupportedAnswer } from '../http/api-problem';
import { RefusesIdempotencyKey, ROTATE_AGAIN } from '../idempotency/refuses-idempotency-key.decorator';
import { ResourceId } from '../http/resource-id.decorator';
import { ApiNoFieldsBody, BEARER_AUTH } from '../http/swagger';
import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import { AlertsService } from './alerts.service';
import { AlertEndpointCreatedResponse, AlertEndpointListResponse, AlertEndpointResponse, AlertSecretResponse, CreateAlertEndpointDto } from './dto/alert-endpoint.dto';

const ID = ApiParam({ name: 'id', format: 'uuid', description: 'Alert endpoint id' });

// What a client whose answer (a secret shown once) was lost does instead of retrying with an Idempotency-Key.
const FIND_IT_INSTEAD =
  'Send it without the key. If an earlier request created the endpoint and its answer was lost, do not register it again: list the alert endpoints (GET /v1/organizations/{org_id}/alert-endpoints), find it by its url, and rotate its signing secret (POST /v1/organizations/{org_id}/alert-endpoints/{id}/signing-secret).';

const ALERTS = `Alerts are POSTed as JSON, signed like Standard Webhooks (headers \`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\` with the endpoint's \`whsec_\` secret): \`delivery.failed\` (an export run failed for good), \`credentials.rejected\` (the external system refused the config's credentials), \`integration.paused\` (ALERT_PAUSE_AFTER_FAILURES failed attempts in a row: deliveries stop until an admin PATCHes \`paused: false\`). Each is retried with backoff until the endpoint answers 2xx; \`webhook-id\` stays the same across retries.`;

@ApiTags('Failure alerts')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@ApiProblemResponses(401, { status: 403, rules: ['forbidden', 'org_scoped_access_only'] })
@Controller('v1/organizations/:org_id/alert-endpoints')
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  @Get()
  @Roles('org_admin', 'global_admin')
  @ApiOperation({ summary: "The organization's alert endpoints (never their secrets)", description: ALERTS })
  @ApiOkResponse({ type: AlertEndpointListResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] })
  async list(@OrgId() orgId: string, @NoQuery() _query: object): Promise<AlertEndpointListResponse> {
    return { items: await this.alerts.list(orgId), next_cursor: null };
  }

  @Post()
  @Roles('org_admin')
  @RefusesIdempotencyKey(FIND_IT_INSTEAD)
  @Located((p, made) => `/v1/organizations/${p.org_id}/alert-endpoints/${made.id}`)
  @ApiOperation({ summary: 'Register an alert endpoint; its signing secret is shown once', description: ALERTS })
  @ApiCreatedResponse({ type: AlertEndpointCreatedResponse, headers: LOCATION_HEADER })
  @ApiProblemResponses(
    { status: 400, rules: ['base_url_must_be_https', 'display_name_not_empty', 'idempotency_key_not_supported', 'unknown_field'], answers: keyNotSupportedAnswer(FIND_IT_INSTEAD) },
    { status: 422, rules: ['alert_endpoints_within_bounds'] },
  )
  create(
    @OrgId() orgId: string,
    @ValidBody() body: CreateAlertEndpointDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ): Promise<AlertEndpointCreatedResponse> {
    return this.alerts.create(orgId, body, actor);
  }

  @Get(':id')
  @Roles('org_admin', 'global_admin')
  @ID
  @ApiOperation({ summary: 'One alert endpoint' })
  @ApiOkResponse({ type: AlertEndpointResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, 404)
  get(@OrgId() orgId: string, @ResourceId('id') id: string, @NoQuery() _query: object): Promise<AlertEndpointResponse> {
    return this.alerts.get(orgId, id);
  }

  @Post(':id/signing-secret')
  @Roles('org_admin')
  @RefusesIdempotencyKey(ROTATE_AGAIN)
  @ID
  @ApiOperation({ summary: 'A new signing secret, shown once; alerts sent from now on are signed with it' })
  @ApiNoFieldsBody()
  @ApiCreatedResponse({ type: AlertSecretResponse })
  @ApiProblemResponses({ status: 400, rules: ['idempotency_key_not_supported', 'unknown_field'], answers: keyNotSupportedAnswer(ROTATE_AGAIN) }, 404)
  async rotateSecret(
    @OrgId() orgId: string,
    @ResourceId('id') id: string,
    @ValidBody() _body: NoFieldsDto,
    @NoQuery() _query: object,
    @CurrentPrincipal() actor: Principal,
  ): Promise<AlertSecretResponse> {
    return { signing_secret: await this.alerts.rotateSecret(orgId, id, actor) };
  }

  @Delete(':id')
  @Roles('org_admin')
  @HttpCode(204)
  @ID
  @ApiOperation({ summary: 'Remove an alert endpoint; its queued alerts are dropped' })
  @ApiNoContentResponse()
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, 404)
  async remove(@OrgId() orgId: string, @ResourceId('id') id: string, @NoQuery() _query: object, @CurrentPrincipal() actor: Principal): Promise<void> {
    await this.alerts.remove(orgId, id, actor);
  }
}
