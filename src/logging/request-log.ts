// How a log line names the HTTP request it was logged for. Pure: no Nest imports.
import type { IncomingHttpHeaders } from 'node:http';
import { safeUrl } from './redact';

/**
 * A request as log lines carry it (as `req`): its id (X-Request-Id), method, path with the names
 * of its query parameters (never their values), and user agent; never headers or the body.
 */
export interface RequestLogFields {
  readonly id?: string;
  readonly method: string;
  readonly url: string;
  readonly user_agent?: string;
}

/** What a request must have to be named in a log line: Fastify's and Express's requests both do. */
export interface LoggableRequest {
  readonly id?: unknown;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export function requestLogFields(request: LoggableRequest): RequestLogFields {
  const userAgent = request.headers['user-agent'];
  return { id: typeof request.id === 'string' ? request.id : undefined, method: request.method, url: safeUrl(request.url), user_agent: userAgent };
}

/** Who made a request, as log lines carry it: never more of the principal than this. */
export function principalLogFields(principal: { readonly sub: string; readonly role: string; readonly orgId: string | null }): {
  sub: string;
  role: string;
  org_id: string | null;
} {
  return { sub: principal.sub, role: principal.role, org_id: principal.orgId };
}
