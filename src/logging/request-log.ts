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

export function requestLogFields(request: { readonly id?: unknown; readonly method: string; readonly url: string; readonly headers: IncomingHttpHeaders }): RequestLogFields {
  const userAgent = request.headers['user-agent'];
  return { id: typeof request.id === 'string' ? request.id : undefined, method: request.method, url: safeUrl(request.url), user_agent: userAgent };
}
