import { Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { foundOr404 } from '../common/rule-violation';
import { SecretCipher } from '../crypto/secret-cipher';
import { ExportRunService } from '../export-runs/export-run.service';
import type { ExportRunResponse } from '../export-runs/dto/export.dto';
import type { SyncRunResponse } from '../integration-config/dto/sync-run.dto';
import { INTEGRATION_CONFIGS_TABLE, IntegrationConfigEntity, type SecretColumn } from '../integration-config/integration-config.entity';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';
import { IntegrationConfigService } from '../integration-config/integration-config.service';
import { isDue } from './sync-schedule';

/** Plaintext credentials of one config: only ever returned to in-process callers. */
export interface IntegrationCredentials {
  base_url: string | null;
  api_key: string | null;
  client_id: string | null;
  client_secret: string | null;
  tenant_id: string | null;
  webhook_secret: string | null;
}

export interface DueConfig {
  organization_id: string;
  id: string;
  integration_type: string;
  sync_frequency: string;
  last_sync_at: Date | null;
}

export interface SyncOutcome {
  status?: 'success' | 'partial';
  error?: string;
  records_pushed?: number;
  records_pulled?: number;
}

export type SyncAttempt = { skipped: true; reason: 'disabled_integration_must_not_sync' } | { skipped: false; run: SyncRunResponse };

/**
 * What a sync service needs, in process: which configs are due, their credentials (the only
 * door to plaintext), a sync attempt that always records its outcome, and exports.
 */
@Injectable()
export class SyncService {
  private readonly logger = new Logger('Sync');

  constructor(
    private readonly configRows: IntegrationConfigRepository,
    private readonly cipher: SecretCipher,
    private readonly configs: IntegrationConfigService,
    private readonly exports: ExportRunService,
  ) {}

  /** Enabled configs of every organization due by their sync_frequency and last_sync_at. */
  async findDueConfigsAcrossOrganizations(now = new Date()): Promise<DueConfig[]> {
    const enabled = await this.configRows.listScheduledAcrossOrganizations();
    return enabled.filter((c) => isDue(c.sync_frequency, c.last_sync_at, now));
  }

  /** Decrypted credentials of one config; every read is audited (who, which config), never the values. */
  async readCredentials(orgId: string, configId: string, actor: Principal, purpose: string): Promise<IntegrationCredentials> {
    const config = foundOr404(await this.configRows.findByOrgAndId(orgId, configId), 'Integration config');
    const decrypt = (column: SecretColumn) => {
      const envelope = config[column];
      return envelope ? this.cipher.decrypt(envelope, { table: INTEGRATION_CONFIGS_TABLE, column, rowId: config.id }) : null;
    };
    this.logger.log({ event: 'credentials_read', org_id: orgId, config_id: configId, actor: actor.sub, role: actor.role, purpose, req: actor.request });
    return {
      base_url: config.base_url,
      api_key: decrypt('api_key_encrypted'),
      client_id: config.client_id,
      client_secret: decrypt('client_secret_encrypted'),
      tenant_id: config.tenant_id,
      webhook_secret: decrypt('webhook_secret_encrypted'),
    };
  }

  /**
   * One sync attempt: a disabled config is skipped (the callback is not called); otherwise the
   * outcome is recorded whatever happens: a callback that throws is recorded as `failed`, and
   * the error is thrown again.
   */
  async runSyncAttempt(
    orgId: string,
    configId: string,
    actor: Principal,
    attempt: (context: { config: IntegrationConfigEntity; credentials: IntegrationCredentials }) => Promise<SyncOutcome>,
  ): Promise<SyncAttempt> {
    const config = foundOr404(await this.configRows.findByOrgAndId(orgId, configId), 'Integration config');
    if (!config.enabled) return { skipped: true, reason: 'disabled_integration_must_not_sync' };
    const startedAt = new Date().toISOString();
    const credentials = await this.readCredentials(orgId, configId, actor, 'sync_attempt');
    let outcome: SyncOutcome;
    try {
      outcome = await attempt({ config, credentials });
    } catch (error) {
      // recordSyncRun scrubs the config's secrets and secret-shaped text from every stored error.
      const message = String((error as Error)?.message ?? error) || 'the sync attempt failed';
      await this.configs.recordSyncRun(orgId, configId, { status: 'failed', started_at: startedAt, error: message }, actor);
      throw error;
    }
    const run = await this.configs.recordSyncRun(
      orgId,
      configId,
      { status: outcome.status ?? 'success', started_at: startedAt, error: outcome.error, records_pushed: outcome.records_pushed, records_pulled: outcome.records_pulled },
      actor,
    );
    return { skipped: false, run };
  }

  /** An export; `deliver: true` also queues its rows for delivery through the type's connector. */
  runExport(orgId: string, configId: string, records: unknown[], actor: Principal, options: { deliver?: boolean } = {}): Promise<ExportRunResponse> {
    return this.exports.run(orgId, configId, records, actor, options);
  }
}
