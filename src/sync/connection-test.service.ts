import { Injectable, Logger } from '@nestjs/common';
import { configResource } from '../audit/audit-actions';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { TokenBucketLimiter } from '../common/rate-limiter';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { SecretDecryptionError } from '../crypto/secret-cipher';
import { EgressRefused } from '../egress/outbound-http';
import type { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';
import { IntegrationConfigService } from '../integration-config/integration-config.service';
import { attemptError, connectorContext } from './connector';
import { ConnectorRegistry } from './connector.registry';
import { SyncService, type IntegrationCredentials } from './sync.service';

/** `POST …/connection-test`: real authentication and one read-only call to the config's external system. */
@Injectable()
export class ConnectionTestService {
  private readonly logger = new Logger('ConnectionTest');
  /** Tests per config: each is a request the vendor may bill (Xledger counts them against a monthly quota). */
  private readonly perConfig: TokenBucketLimiter;

  constructor(
    private readonly config: AppConfig,
    private readonly connectors: ConnectorRegistry,
    private readonly configs: IntegrationConfigRepository,
    private readonly configService: IntegrationConfigService,
    private readonly sync: SyncService,
    private readonly audit: AuditService,
  ) {
    const perMinute = config.connectionTestsPerMinute;
    this.perConfig = new TokenBucketLimiter({ capacity: perMinute, refillPerSecond: perMinute / 60, maxKeys: 10_000 });
  }

  /**
   * POST …/connection-test: the connector authenticates and makes one read-only call. Allowed
   * while disabled (it sends no claim data); a destination the egress rule refuses is a 422, any
   * other failure an answer with `ok: false` and the scrubbed reason.
   */
  async test(orgId: string, integrationId: string, actor: Principal): Promise<{ ok: boolean; latency_ms: number; error: string | null }> {
    const config = foundOr404(await this.configs.findByOrgAndId(orgId, integrationId), 'Integration config');
    const wait = this.perConfig.take(integrationId);
    if (wait > 0) {
      const perMinute = this.config.connectionTestsPerMinute;
      throw RuleViolation.rateLimited(`Too many connection tests of this integration: at most ${perMinute} per minute; retry in ${wait} s.`, this.perConfig.capacity, wait);
    }
    let result: { ok: boolean; latency_ms: number } | undefined;
    try {
      return (result = await this.connectionTest(config, actor));
    } finally {
      // A refused destination (422) is a test someone ran too: recorded as not ok. A failed write
      // is logged, never put in the place of the test's own answer or refusal.
      const details = { ok: result?.ok ?? false, latency_ms: result?.latency_ms ?? 0 };
      await this.audit
        .record({ orgId, actor, action: 'connection.tested', resource: configResource(integrationId), details })
        .catch((error: unknown) => this.logger.error({ event: 'audit_event_not_written', org_id: orgId, config_id: integrationId, err: { name: (error as Error)?.name } }));
    }
  }

  private async connectionTest(config: IntegrationConfigEntity, actor: Principal): Promise<{ ok: boolean; latency_ms: number; error: string | null }> {
    const orgId = config.organization_id;
    const connector = this.connectors.find(config.integration_type);
    if (!connector?.testConnection) return { ok: false, latency_ms: 0, error: `no connection test for integration type ${config.integration_type}` };
    let credentials: IntegrationCredentials;
    try {
      credentials = this.sync.credentialsOf(config, actor, 'connection_test');
    } catch (error) {
      // A stored secret no key opens (a key removed too soon, a bad restore): nothing to test with,
      // which is the answer (it names the column and the key, never a value); setting it again fixes it.
      if (!(error instanceof SecretDecryptionError)) throw error;
      this.logger.warn({ event: 'secret_unreadable', org_id: orgId, config_id: config.id, reason: error.reason, key_id: error.keyId ?? null });
      return { ok: false, latency_ms: 0, error: error.message };
    }
    const started = performance.now();
    try {
      await connector.testConnection(connectorContext(config, credentials));
      return { ok: true, latency_ms: Math.round(performance.now() - started), error: null };
    } catch (error) {
      if (error instanceof EgressRefused) {
        await this.audit.recordEgressRefusal(orgId, configResource(config.id), error, 'connection_test', actor);
        // The config's own URL is the admin's to fix; another host (the identity platform) is the operator's.
        const ownUrl = config.base_url !== null && hostOf(config.base_url) === error.host;
        throw new RuleViolation(
          'egress_destination_not_allowed',
          `Outbound requests may not reach ${error.host}: it is not https or resolves to a loopback, private, link-local or otherwise internal address.`,
          ownUrl ? [{ field: 'base_url', rule: 'egress_destination_not_allowed', message: 'the host is not an address outbound requests may reach' }] : [],
        );
      }
      const latency = Math.round(performance.now() - started);
      // Scrubbed of the organization's stored secrets and of the ones this test sent.
      const scrub = this.configService.secretScrubber(orgId, [credentials.api_key, credentials.client_secret]);
      const [reason] = await scrub([attemptError(error)]);
      return { ok: false, latency_ms: latency, error: reason };
    }
  }
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
