import { isUtf8 } from 'node:buffer';
import { Injectable, Logger } from '@nestjs/common';
import { UUID_PATTERN } from '../common/uuid';
import { mapPage, type PageQueryDto } from '../common/pagination';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { PageCursors } from '../crypto/page-cursors';
import { SecretCipher } from '../crypto/secret-cipher';
import { configSecretLocation, IntegrationConfigEntity, type SecretColumn } from '../integration-config/integration-config.entity';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';

import { TokenBucketLimiter } from '../common/rate-limiter';
import { REFUSAL_DETAILS, refused, verifyStandardWebhook, verifyXledgerWebhook, type Verification } from './signatures';
import { WebhookEventRepository } from './webhook-event.repository';
import { requestLogFields, type LoggableRequest } from '../logging/request-log';

export interface WebhookReceipt {
  status: 200 | 202;
  body: { id: string; duplicate: false } | { duplicate: true };
}

function tooMany(scope: string, retryAfter: number, limiter: TokenBucketLimiter): RuleViolation {
  const seconds = Math.max(1, retryAfter);
  return RuleViolation.rateLimited(`Too many deliveries ${scope}: retry in ${seconds} s.`, limiter.capacity, seconds);
}

export interface WebhookEventResponseItem {
  id: string;
  webhook_id: string;
  received_at: string;
  signature_scheme: string;
  payload: string;
  payload_base64: string | null;
}

/** Inbound webhooks: verified over the raw bytes, stored once per webhook-id. */
@Injectable()
export class WebhooksService {
  private readonly logger = new Logger('Webhooks');
  /**
   * Verified deliveries per integration (WEBHOOK_RATE_LIMIT_BURST, then _PER_SECOND). Only a
   * delivery that proved itself draws on it: charged before the signature check, a stream of
   * forged deliveries would lock the real sender out. (The refusals below are per address: a
   * forger sharing the sender's address can spend them; docs/webhooks.md says so.)
   */
  private readonly deliveries: TokenBucketLimiter;
  /** Refused deliveries (bad signature, unknown integration) per client address, same sizes: charged before any read, given back once verified. */
  private readonly refusals: TokenBucketLimiter;

  constructor(
    private readonly configs: IntegrationConfigRepository,
    private readonly events: WebhookEventRepository,
    private readonly cipher: SecretCipher,
    private readonly cursors: PageCursors,
    config: AppConfig,
  ) {
    const sizes = { capacity: config.webhookRateLimitBurst, refillPerSecond: config.webhookRateLimitPerSecond, maxKeys: 10_000 };
    this.deliveries = new TokenBucketLimiter(sizes);
    this.refusals = new TokenBucketLimiter(sizes);
  }

  /**
   * `clientAddress`: the sender's address as the rate limits see it (clientAddressKey); `request`: the
   * HTTP request of the delivery, named by the line logged when it is refused.
   */
  async receive(
    integrationId: string,
    body: Buffer,
    headers: Record<string, string | string[] | undefined>,
    clientAddress: string,
    request?: LoggableRequest,
  ): Promise<WebhookReceipt> {
    // An address that has sent too many refused deliveries is not read for until its bucket refills.
    // Each delivery is charged a refusal before its read and given it back once verified: charged
    // only once refused, concurrent forgeries would all pass before the first of them was judged.
    const refusalWait = this.refusals.take(clientAddress);
    if (refusalWait > 0) throw tooMany('from this address', refusalWait, this.refusals);
    // UUIDs are case-insensitive: one integration however its id is spelled.
    const id = integrationId.toLowerCase();
    let config: IntegrationConfigEntity | null;
    let verification: Verification | undefined;
    try {
      config = UUID_PATTERN.test(id) ? await this.configs.findForWebhook(id) : null;
      verification = config ? this.verify(config, body, headers) : undefined;
    } catch (error) {
      // The service failed, not the sender.
      this.refusals.giveBack(clientAddress);
      throw error;
    }
    if (!config || !verification) throw RuleViolation.notFound('Integration');
    if (!verification.ok) {
      // Nothing is written for a refused delivery; the reason is logged, never the signature.
      this.logger.warn({
        event: 'webhook_refused',
        integration_id: config.id,
        org_id: config.organization_id,
        reason: verification.reason,
        req: request && requestLogFields(request),
      });
      // The check that failed, for the sender's developer: the log line is the operator's only.
      throw RuleViolation.unauthorized(verification.detail);
    }
    this.refusals.giveBack(clientAddress);
    const wait = this.deliveries.take(config.id);
    if (wait > 0) throw tooMany('for this integration', wait, this.deliveries);
    // Verified first, so an unauthenticated caller learns nothing about the config's state.
    if (!config.enabled) throw new RuleViolation('disabled_integration_must_not_sync', 'This integration is disabled: its webhooks are not accepted.');

    const contentType = headers['content-type'];
    const inserted = await this.events.insertOnce(config.organization_id, config.id, {
      webhook_id: verification.webhookId,
      signature_scheme: verification.scheme,
      payload: body,
      content_type: typeof contentType === 'string' ? contentType.slice(0, 255) : null,
    });
    return inserted ? { status: 202, body: { id: inserted, duplicate: false } } : { status: 200, body: { duplicate: true } };
  }

  async listEvents(orgId: string, integrationId: string, page: PageQueryDto) {
    foundOr404(await this.configs.findByOrgAndId(orgId, integrationId), 'Integration config');
    const events = await this.cursors.page(orgId, `webhook_events:${integrationId}`, {}, page, (keyset) => this.events.listPage(orgId, integrationId, keyset));
    return mapPage(events, (event): WebhookEventResponseItem => ({
      id: event.id,
      webhook_id: event.webhook_id,
      received_at: event.received_at.toISOString(),
      signature_scheme: event.signature_scheme,
      payload: event.payload.toString('utf8'),
      // Text is the bytes only when they are UTF-8: otherwise the exact bytes come as base64 too.
      payload_base64: isUtf8(event.payload) ? null : event.payload.toString('base64'),
    }));
  }

  private verify(config: IntegrationConfigEntity, body: Buffer, headers: Record<string, string | string[] | undefined>): Verification {
    if (config.integration_type === 'xledger' && headers['x-xl-webhook-signature'] !== undefined) {
      // Only a config set up for inbound webhooks (webhook_url, which the seed's rule pairs with a
      // secret) takes Xledger's scheme: an API key alone is a credential for going out, not in.
      if (!config.webhook_url) return refused('no_webhook_secret', REFUSAL_DETAILS.notSetUp);
      return verifyXledgerWebhook(body, headers, this.decrypt(config, 'api_key_encrypted'));
    }
    const secrets = [this.decrypt(config, 'webhook_secret_encrypted')];
    // Replaced secrets verify until their own 24 hours end.
    for (const [column, expiresAt] of [
      ['previous_webhook_secret_encrypted', config.previous_webhook_secret_expires_at],
      ['older_webhook_secret_encrypted', config.older_webhook_secret_expires_at],
    ] as const) {
      if (expiresAt && expiresAt.getTime() > Date.now()) secrets.push(this.decrypt(config, column));
    }
    return verifyStandardWebhook(
      body,
      headers,
      secrets.filter((s): s is string => s !== null),
    );
  }

  private decrypt(config: IntegrationConfigEntity, column: SecretColumn): string | null {
    const envelope = config[column];
    return envelope ? this.cipher.decrypt(envelope, configSecretLocation(config.id, column)) : null;
  }
}
