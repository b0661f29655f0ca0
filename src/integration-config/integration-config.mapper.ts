import type { IntegrationConfigResponse } from './dto/integration-config-response.dto';
import type { SyncRunResponse } from './dto/sync-run.dto';
import type { IntegrationConfigEntity } from './integration-config.entity';
import type { SyncRunEntity } from './sync-run.entity';

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

/** The explicit response of a config: secrets only as has_*, never plaintext nor ciphertext. */
export function toConfigResponse(config: IntegrationConfigEntity, fieldMappings: Record<string, string>): IntegrationConfigResponse {
  return {
    id: config.id,
    organization_id: config.organization_id,
    integration_type: config.integration_type,
    display_name: config.display_name,
    enabled: config.enabled,
    base_url: config.base_url,
    client_id: config.client_id,
    tenant_id: config.tenant_id,
    has_api_key: config.api_key_encrypted !== null,
    has_client_secret: config.client_secret_encrypted !== null,
    has_webhook_secret: config.webhook_secret_encrypted !== null,
    field_mappings: fieldMappings,
    accounting_code_mappings: config.accounting_code_mappings ?? {},
    sync_frequency: config.sync_frequency,
    last_sync_at: iso(config.last_sync_at),
    last_sync_status: config.last_sync_status,
    last_sync_error: config.last_sync_error,
    last_success_at: iso(config.last_success_at),
    webhook_url: config.webhook_url,
    extra_config: config.extra_config ?? {},
    paused: config.paused,
    paused_at: iso(config.paused_at),
    revision: config.revision,
    created_by: config.created_by,
    updated_by: config.updated_by,
    created_at: config.created_at.toISOString(),
    updated_at: config.updated_at.toISOString(),
  };
}

export function toSyncRunResponse(run: SyncRunEntity): SyncRunResponse {
  return {
    id: run.id,
    integration_id: run.integration_id,
    status: run.status,
    started_at: run.started_at.toISOString(),
    finished_at: run.finished_at.toISOString(),
    error: run.error,
    records_pushed: run.records_pushed,
    records_pulled: run.records_pulled,
    recorded_by: run.recorded_by,
    created_at: run.created_at.toISOString(),
  };
}
