// What the audit trail records, by name. Pure: no Nest imports.
import { isDeepStrictEqual } from 'node:util';

/** Every action an audit event can carry: the list's `action` filter takes only these. */
export const AUDIT_ACTIONS = [
  'integration_config.created',
  'integration_config.updated',
  'integration_config.deleted',
  'integration_config.webhook_secret_rotated',
  'integration_config.paused',
  'sync_run.recorded',
  'alert_endpoint.created',
  'alert_endpoint.deleted',
  'alert_endpoint.secret_rotated',
  'field_mapping.created',
  'field_mapping.updated',
  'field_mapping.deleted',
  'field_mapping.version_created',
  'field_mapping.reordered',
  'delivery.requested',
  'connection.tested',
  'access.refused',
  'egress.refused',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_RESOURCE_TYPES = ['integration_config', 'field_mapping', 'export_run', 'sync_run', 'alert_endpoint', 'request'] as const;
export type AuditResourceType = (typeof AUDIT_RESOURCE_TYPES)[number];

/** An audit event's resource: a config (its own integration). */
export function configResource(id: string) {
  return { type: 'integration_config' as const, id, integrationId: id };
}

/** An audit event's resource: a mapping of a config. */
export function mappingResource(integrationId: string, id: string) {
  return { type: 'field_mapping' as const, id, integrationId };
}

/**
 * The names of the fields a change touched, compared before → after (never their values): a
 * field sent with the value it already had is not a change.
 */
export function changedFieldNames<T extends object>(before: T, after: T, fields: readonly (keyof T & string)[]): string[] {
  return fields.filter((field) => !isDeepStrictEqual(before[field], after[field]));
}
