// Who is calling, as proven by the bearer token. Pure: no Nest imports.

export const ROLES = ['org_admin', 'global_admin', 'sync_service'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** UUID of the user or service (`sub`). */
  sub: string;
  role: Role;
  /** UUID of the user's organization; null for `sync_service` and `global_admin`. */
  orgId: string | null;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
