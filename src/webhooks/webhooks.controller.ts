import { Controller, Get, Headers, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiConsumes, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Public, READ_ROLES, Roles } from '../auth/auth.decorators';
import { CURSOR_SCHEMA, MAX_PAGE_SIZE, PageQueryDto } from '../common/pagination';
import { ResourceId } from '../http/resource-id.decorator';
import { ValidQuery } from '../common/validation';
import { ApiProblemResponses } from '../http/api-problem';
import type { HttpReply, HttpRequest } from '../http/http-types';
import { BEARER_AUTH, WEBHOOK_SIGNATURE, XLEDGER_SIGNATURE } from '../http/swagger';

import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import { clientAddress, CountedBeforeBody } from '../http/rate-limit.guard';
import { REFUSAL_DETAILS } from './signatures';
import { WebhooksService } from './webhooks.service';

class WebhookReceiptResponse {
  @ApiProperty({ format: 'uuid', required: false, description: 'The stored event (new deliveries)' }) id?: string;
  @ApiProperty({ description: 'true when this webhook-id was already received for the integration' }) duplicate: boolean;
}

class WebhookEventResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'msg_2Lh9KcxkfbW3c4Y7d6Z', maxLength: 255 }) webhook_id: string;
  @ApiProperty({ format: 'date-time' }) received_at: string;
  @ApiProperty({ enum: ['standard_webhooks', 'xledger'] }) signature_scheme: string;
  @ApiProperty({ description: 'The body exactly as received (at most 1 MiB), as UTF-8 text', maxLength: 1_048_576, example: '{"type":"expense.approved","data":{}}' })
  payload: string;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'byte',
    maxLength: 1_398_104,
    description: 'The exact bytes, base64, when the body is not valid UTF-8 (then `payload` holds U+FFFD where bytes could not be read); null when `payload` is the body itself',
  })
  payload_base64: string | null;
}

class WebhookEventListResponse {
  @ApiProperty({ type: [WebhookEventResponse], maxItems: MAX_PAGE_SIZE }) items: WebhookEventResponse[];
  @ApiProperty({ ...CURSOR_SCHEMA, nullable: true }) next_cursor: string | null;
}

const SCHEMES = `Two signature schemes are accepted.

**Standard Webhooks** (Svix and others): headers \`webhook-id\`, \`webhook-timestamp\` (Unix seconds, within 300 s of now) and \`webhook-signature\`: space-separated \`v1,<base64>\` values, one of which must be base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>")), key = the base64-decoded part of the config's \`whsec_\` secret after the prefix. The secret that \`POST …/webhook-secret\` replaced verifies for 24 hours more; after a second rotation within them, the one before it too until its own 24 hours end (two replaced secrets at most: a third rotation drops the newer of them).

**Xledger** (\`integration_type = xledger\` configs with a \`webhook_url\` only): header \`X-XL-Webhook-Signature\` = base64url(HMAC-SHA256(key, "<Unix seconds of the Date header>.<raw body>")), key = the base64url-decoded API token (the config's \`api_key\`, which must be canonical base64url of at least 16 bytes, else the scheme is off for that config); the \`Date\` header must be within 15 minutes of now. Deliveries are de-duplicated by their signature.

Rate limits (429 with Retry-After): a burst of 100 verified deliveries per integration, then 10 per second; refused deliveries (bad signature, unknown integration) draw on a budget of the same size per client address, never on the integration's, so forged traffic from other addresses cannot lock the real sender out (an address shared with a forger can be refused until its budget refills). A refused delivery writes nothing.`;

@ApiTags('Inbound webhooks')
@Controller('v1/webhooks')
export class InboundWebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post(':integration_id')
  @Public()
  @CountedBeforeBody()
  @ApiOperation({ summary: 'Receive a signed webhook delivery (no bearer token)', description: SCHEMES })
  @ApiParam({ name: 'integration_id', format: 'uuid' })
  @ApiSecurity(WEBHOOK_SIGNATURE)
  @ApiSecurity(XLEDGER_SIGNATURE)
  @ApiHeader({ name: 'webhook-id', required: false, description: 'Standard Webhooks: the delivery id (idempotency key)', schema: { type: 'string', minLength: 1, maxLength: 255 } })
  @ApiHeader({
    name: 'webhook-timestamp',
    required: false,
    description: 'Standard Webhooks: Unix seconds, within 300 s of now',
    schema: { type: 'string', pattern: '^[0-9]{1,12}$', maxLength: 12 },
  })
  @ApiHeader({
    name: 'Date',
    required: false,
    description: 'Xledger: HTTP date, within 15 minutes of now',
    schema: { type: 'string', maxLength: 64, example: 'Sun, 22 Nov 2026 12:00:00 GMT' },
  })
  // Any media type, kept as the bytes received (body-parsers.ts): documented as such, not as JSON.
  @ApiConsumes('*/*')
  @ApiBody({
    description: 'Any content, of any media type; stored byte for byte (at most 1 MiB)',
    schema: { type: 'string', format: 'binary', maxLength: 1_048_576, example: '{"type":"expense.approved","data":{}}' },
  })
  @ApiAcceptedResponse({ type: WebhookReceiptResponse, description: 'New delivery stored' })
  @ApiOkResponse({ type: WebhookReceiptResponse, description: 'Duplicate webhook-id: nothing stored' })
  @ApiProblemResponses(
    {
      status: 401,
      description:
        "The delivery was refused; `detail` names the check that failed: a missing header (named), a webhook-id over 255 characters, a webhook-timestamp that is not Unix seconds (a millisecond timestamp is the usual mistake), a timestamp (or Xledger's Date) too old or too new for the tolerance, no matching signature, or the integration having no webhook secret (or, for Xledger, no usable API token or webhook_url) configured.",
      answers: { unauthorized: { detail: REFUSAL_DETAILS.timestampNotSeconds } },
    },
    404,
    { status: 409, rules: ['disabled_integration_must_not_sync'] },
    { status: 413, rules: ['payload_too_large'], description: 'Body over 1 MiB' },
    { status: 429, rules: ['rate_limited'] },
  )
  @HttpCode(202)
  // No @NoQuery(): a sender's URL may carry a query string the admin or the vendor put there;
  // refusing it would lose every delivery, and nothing of it is signed, read or stored.
  async receive(@Param('integration_id') integrationId: string, @Req() req: HttpRequest, @Headers() headers: Record<string, string>, @Res({ passthrough: true }) res: HttpReply) {
    const body = rawBodyOf(req);
    const receipt = await this.webhooks.receive(integrationId, body, headers, clientAddress(req), req);
    res.status(receipt.status);
    return receipt.body;
  }
}

@ApiTags('Inbound webhooks')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@Controller('v1/organizations/:org_id/integrations/:id/webhook-events')
export class WebhookEventsController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Get()
  @Roles(...READ_ROLES)
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOperation({
    summary: 'Stored inbound webhook events, newest first, paginated',
    description:
      'A page holds at most `limit` events and at most 4 MiB of their payloads (always at least one event): it can hold fewer than `limit` and still have a `next_cursor`.',
  })
  @ApiOkResponse({ type: WebhookEventListResponse })
  @ApiProblemResponses(
    { status: 400, rules: ['limit_within_bounds', 'cursor_must_be_valid', 'unknown_field'] },
    401,
    { status: 403, rules: ['forbidden', 'org_scoped_access_only'] },
    404,
  )
  list(@OrgId() orgId: string, @ResourceId('id') id: string, @ValidQuery() page: PageQueryDto) {
    return this.webhooks.listEvents(orgId, id, page);
  }
}

/**
 * The delivery's bytes, as signed: the service's own parser keeps a webhook's body a Buffer, of any
 * content type; a host application's parser parsed it, and Nest kept the bytes (`rawBody: true`)
 * only of JSON and form bodies. Verifying anything else (a re-encoded body, or none where one was
 * sent) would refuse every delivery as a bad signature: such a host is told so (500, logged).
 */
function rawBodyOf(req: HttpRequest): Buffer {
  if (Buffer.isBuffer(req.body)) return req.body;
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  const sent = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if ((req.body === undefined || req.body === null) && !sent) return Buffer.alloc(0);
  throw new Error(
    "inbound webhooks need the body's raw bytes: create the host application with rawBody: true, and for content types other than JSON and forms give the route a parser that keeps a Buffer (docs/module.md)",
  );
}
