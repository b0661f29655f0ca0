import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { NoFieldsDto, NoQuery, ValidBody } from '../common/validation';
import { ApiProblemResponses } from '../http/api-problem';
import { ResourceId } from '../http/resource-id.decorator';
import { ApiNoFieldsBody, BEARER_AUTH } from '../http/swagger';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import { ConnectionTestService } from './connection-test.service';
import { DeliveryService } from './delivery.service';

export class ConnectionTestResponse {
  @ApiProperty({ example: true, description: 'The external system accepted the credentials and answered the read-only call' }) ok: boolean;
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 2_147_483_647, example: 184, description: 'Milliseconds the test took' }) latency_ms: number;
  @ApiProperty({ type: 'string', nullable: true, maxLength: 10_000, example: null, description: 'Why it failed (no secret in it), or null' }) error: string | null;
}

export class SyncNowResponse {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 2_147_483_647, example: 2, description: 'Queued export runs the delivery now picks up' }) queued_runs: number;
}

@ApiTags('Delivery')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@ApiProblemResponses(401, { status: 403, rules: ['forbidden', 'org_scoped_access_only'] })
@Controller('v1/organizations/:org_id/integrations/:id')
export class SyncController {
  constructor(
    private readonly delivery: DeliveryService,
    private readonly connectionTests: ConnectionTestService,
  ) {}

  @Post('sync')
  @Roles('org_admin', 'sync_service')
  // Not idempotent by nature: a repeat records another delivery.requested and clears the retry
  // waits of attempts that failed since. A retry with the first one's key replays its 202 instead.
  @Idempotent()
  @HttpCode(202)
  @ApiParam({ name: 'id', format: 'uuid', description: 'Integration config id' })
  @ApiOperation({
    summary: "Deliver this config's queued export runs now, whatever its sync_frequency",
    description:
      "Now: past the config's schedule and the engine's backoff after a failed attempt. Not past a wait the external system named (Retry-After, Xledger's resetAt): a run under one, and the config's runs queued after it, go when it ends (the run's delivery.next_attempt_at).",
  })
  @ApiNoFieldsBody()
  @ApiAcceptedResponse({ type: SyncNowResponse })
  @ApiProblemResponses(
    { status: 400, rules: ['idempotency_key_must_be_valid', 'unknown_field'] },
    404,
    { status: 409, rules: ['disabled_integration_must_not_sync', 'integration_paused', 'idempotency_key_in_use'] },
    { status: 422, rules: ['idempotency_key_reused_with_other_request'] },
  )
  syncNow(@OrgId() orgId: string, @ResourceId('id') id: string, @ValidBody() _body: NoFieldsDto, @NoQuery() _query: object, @CurrentPrincipal() principal: Principal) {
    return this.delivery.syncNow(orgId, id, principal);
  }

  @Post('connection-test')
  @Roles('org_admin', 'sync_service')
  @HttpCode(200)
  @ApiParam({ name: 'id', format: 'uuid', description: 'Integration config id' })
  @ApiOperation({
    summary: 'Authenticate against the external system and make one read-only call',
    description:
      'Sends no claim data; allowed while the config is disabled. A destination the egress rule refuses is 422. Counts against the write budget and, per config, against CONNECTION_TEST_RATE_LIMIT_PER_MINUTE (6 a minute in each instance: each test is a request the vendor may bill): 429 rate_limited with Retry-After beyond.',
  })
  @ApiNoFieldsBody()
  @ApiOkResponse({ type: ConnectionTestResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, 404, { status: 422, rules: ['egress_destination_not_allowed'] })
  testConnection(@OrgId() orgId: string, @ResourceId('id') id: string, @ValidBody() _body: NoFieldsDto, @NoQuery() _query: object, @CurrentPrincipal() principal: Principal) {
    return this.connectionTests.test(orgId, id, principal);
  }
}
