import type { IncomingHttpHeaders } from 'node:http';

/**
 * What the guards, filter and controllers read of a request: the part Fastify's request (the
 * service's adapter) and Express's (a host application's, with `http: true`) have in common.
 */
export interface HttpRequest {
  /** The request id (X-Request-Id) Fastify assigns; an Express request has none of its own. */
  readonly id?: string;
  readonly method: string;
  /** The path with its query string. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly params?: Record<string, string | undefined>;
  readonly query?: Record<string, unknown>;
  readonly ip?: string;
  readonly body?: unknown;
  /** The body's bytes, kept by Nest when a host creates its application with `rawBody: true`. */
  readonly rawBody?: Buffer;
}

/** What is written to a response besides its body: the same on Fastify's reply and Express's response. */
export interface HttpReply {
  header(name: string, value: string): unknown;
  status(code: number): unknown;
  /** The status set so far (Fastify's reply and Express's response both keep it here). */
  readonly statusCode?: number;
}

/** The path's parameters as the handlers read them: ids in lower case, one resource however its id is spelled. */
export function pathParamsOf(request: HttpRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(request.params ?? {}).map(([name, value]) => [name, String(value).toLowerCase()]));
}
