// The config's business rules as pure functions of its resulting state. No Nest imports.
import type { FieldError } from '../common/problem';
import { dataverseNameErrors } from '../connectors/dynamics/dataverse-names';
import type { CredentialName, IntegrationTypeDefinition } from '../integration-types/integration-type';
import { isTimeZone } from '../common/time-zone';
import type { IntegrationConfigEntity } from './integration-config.entity';

type ConfigState = Pick<IntegrationConfigEntity, 'base_url' | 'api_key_encrypted' | 'client_id' | 'client_secret_encrypted' | 'tenant_id' | 'extra_config'>;

/** Where a Dynamics 365 connector writes rows (API.md "What goes on the wire"): needed before it can deliver. */
const REQUIRED_EXTRA_CONFIG: Record<string, readonly string[]> = {
  dynamics: ['entity_set', 'alternate_key'],
  hlf_portal: ['entity_set', 'alternate_key', 'tenant_id'],
};

/** The extra_config keys a config of this type needs before it can be enabled (GET /v1/integration-types says so). */
export function requiredExtraConfig(integrationType: string): string[] {
  return [...(REQUIRED_EXTRA_CONFIG[integrationType] ?? [])];
}

const CREDENTIAL_PRESENT: Record<CredentialName, (state: ConfigState) => boolean> = {
  api_key: (s) => s.api_key_encrypted !== null,
  client_id: (s) => s.client_id !== null,
  client_secret: (s) => s.client_secret_encrypted !== null,
  tenant_id: (s) => s.tenant_id !== null,
};

/** `credentials_required_before_enable`: base_url, each of the type's credentials, and what its connector needs in extra_config. */
export function missingForEnable(type: IntegrationTypeDefinition, state: ConfigState): FieldError[] {
  const missing: FieldError[] = [];
  if (state.base_url === null) missing.push({ field: 'base_url', rule: 'credentials_required_before_enable', message: 'base_url is required to enable this integration' });
  for (const credential of type.required_credentials) {
    if (!CREDENTIAL_PRESENT[credential](state)) {
      missing.push({ field: credential, rule: 'credentials_required_before_enable', message: `${credential} is required to enable a ${type.integration_type} integration` });
    }
  }
  for (const key of REQUIRED_EXTRA_CONFIG[type.integration_type] ?? []) {
    const value = state.extra_config?.[key];
    if (typeof value !== 'string' || value.trim() === '') {
      missing.push({
        field: `extra_config.${key}`,
        rule: 'credentials_required_before_enable',
        message: `extra_config.${key} is required to enable a ${type.integration_type} integration`,
      });
    }
  }
  return missing;
}

/** `dataverse_names_must_be_schema_names`: what a Dataverse connector reads of extra_config, checked when it is written. */
export function extraConfigErrors(integrationType: string, extra: Record<string, unknown>): FieldError[] {
  if (!(integrationType in REQUIRED_EXTRA_CONFIG)) return [];
  return dataverseNameErrors(integrationType, extra).map((e) => ({ ...e, rule: 'dataverse_names_must_be_schema_names' }));
}

/**
 * `sync_time_zone_must_be_iana_zone`: the zone a config's schedule counts its slots in, when given,
 * is one the runtime knows (an IANA name, an alias of one, or `UTC`). A stored one it does not
 * know (written before this rule) still counts as UTC (sync-schedule.ts).
 */
export function syncTimeZoneErrors(extra: Record<string, unknown>): FieldError[] {
  // null, as a form sends for "none", is no zone: UTC, as when the key is left out.
  const zone = Object.hasOwn(extra, 'sync_time_zone') ? extra['sync_time_zone'] : null;
  if (zone === null || isTimeZone(zone)) return [];
  return [
    {
      field: 'extra_config.sync_time_zone',
      rule: 'sync_time_zone_must_be_iana_zone',
      message: 'extra_config.sync_time_zone must name an IANA time zone (e.g. Europe/Oslo) or UTC',
    },
  ];
}

/** `webhook_secret_required_for_inbound_webhooks`. */
export function webhookSecretMissing(state: Pick<IntegrationConfigEntity, 'webhook_url' | 'webhook_secret_encrypted'>): FieldError[] {
  return state.webhook_url !== null && state.webhook_secret_encrypted === null
    ? [
        {
          field: 'webhook_secret',
          rule: 'webhook_secret_required_for_inbound_webhooks',
          message: 'webhook_url needs a webhook secret (send webhook_secret, or POST /webhook-secret)',
        },
      ]
    : [];
}

/** The stored secrets that leave towards `base_url` (Xledger's token; the Dataverse client secret, whose access token does). */
const SECRETS_SENT_TO_BASE_URL = [
  ['api_key', 'api_key_encrypted'],
  ['client_secret', 'client_secret_encrypted'],
] as const;

/**
 * `credentials_required_for_new_base_url`: a PATCH that points base_url at another origin must
 * give the stored secrets again (or clear them). Else whoever may PATCH a config (or holds a
 * stolen admin token) could send the write-only key to a host of their choosing and read it
 * there: one PATCH, then a connection test.
 */
export function secretsToGiveForNewBaseUrl(
  current: Pick<IntegrationConfigEntity, 'base_url' | 'api_key_encrypted' | 'client_secret_encrypted'>,
  nextBaseUrl: string | null,
  given: { api_key?: string | null; client_secret?: string | null },
): FieldError[] {
  if (nextBaseUrl === null || originOf(nextBaseUrl) === originOf(current.base_url)) return [];
  return SECRETS_SENT_TO_BASE_URL.filter(([name, column]) => current[column] !== null && given[name] === undefined).map(([name]) => ({
    field: name,
    rule: 'credentials_required_for_new_base_url',
    message: `base_url now points at another origin (scheme, host or port): give ${name} again (or null to clear it) in the same request`,
  }));
}

function originOf(url: string | null): string | null {
  if (url === null) return null;
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
