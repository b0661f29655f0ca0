// Who is calling, as proven by the bearer token. Pure: no Nest imports.
import type { RequestLogFields } from '../logging/request-log';

export const ROLES = ['org_admin', 'global_admin', 'sync_service'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /** UUID of the user or service (`sub`). */
  sub: string;
  role: Role;
  /** UUID of the user's organization; null for `sync_service` and `global_admin`. */
  orgId: string | null;
  /**
   * The HTTP request it acts through, as log lines name it: set per request by CurrentPrincipal
   * (absent outside HTTP), so that the audit lines a service logs for it carry the request (`req`).
   */
  readonly request?: RequestLogFields;
}
