import { Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { foundOr404 } from '../common/rule-violation';
import { SecretCipher } from '../crypto/secret-cipher';
import { ExportRunService } from '../export-runs/export-run.service';
import type { ExportRunResponse } from '../export-runs/dto/export.dto';
import { configSecretLocation, type IntegrationConfigEntity, type SecretColumn } from '../integration-config/integration-config.entity';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';
import { IntegrationConfigService } from '../integration-config/integration-config.service';

/** Plaintext credentials of one config: only ever returned to in-process callers. */
export interface IntegrationCredentials {
  base_url: string | null;
  api_key: string | null;
  client_id: string | null;
  client_secret: string | null;
  tenant_id: string | null;
  webhook_secret: string | null;
}

/**
 * What a sync service needs in process beside the delivery engine: credentials (the only door
 * to plaintext) and exports. Runs are delivered, scheduled and recorded by the engine
 * (DeliveryService) through the connectors a host registers.
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

  /** Decrypted credentials of one config; every read is audited (who, which config), never the values. */
  async readCredentials(orgId: string, configId: string, actor: Principal, purpose: string): Promise<IntegrationCredentials> {
    return this.credentialsOf(foundOr404(await this.configRows.findByOrgAndId(orgId, configId), 'Integration config'), actor, purpose);
  }

  /** The same, of a config row already read (the delivery engine has just read it). */
  credentialsOf(config: IntegrationConfigEntity, actor: Principal, purpose: string): IntegrationCredentials {
    const decrypt = (column: SecretColumn) => {
      const envelope = config[column];
      return envelope ? this.cipher.decrypt(envelope, configSecretLocation(config.id, column)) : null;
    };
    this.logger.log({ event: 'credentials_read', org_id: config.organization_id, config_id: config.id, actor: actor.sub, role: actor.role, purpose, req: actor.request });
    return {
      base_url: config.base_url,
      api_key: decrypt('api_key_encrypted'),
      client_id: config.client_id,
      client_secret: decrypt('client_secret_encrypted'),
      tenant_id: config.tenant_id,
      webhook_secret: decrypt('webhook_secret_encrypted'),
    };
  }

  /** An export; `deliver: true` also queues its rows for delivery through the type's connector. */
  runExport(orgId: string, configId: string, records: unknown[], actor: Principal, options: { deliver?: boolean } = {}): Promise<ExportRunResponse> {
    return this.exports.run(orgId, configId, records, actor, options);
  }
}
