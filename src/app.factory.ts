import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import helmet from 'helmet';
import { AppModule, type AppModuleOptions } from './app.module';
import type { AppConfig } from './config/app-config';
import { problemOf, PROBLEM_CONTENT_TYPE } from './common/problem';
import { Authenticator } from './auth/authenticator';
import { noteRoutes } from './http/allowed-methods';
import { authenticateBeforeBody } from './http/authenticate-before-body';
import { limitBeforeBody, RateLimits } from './http/rate-limit.guard';
import { useBodyParsers } from './http/body-parsers';
import { answeredByRouter } from './http/every-answer';
import { DOCS_PATH, setupSwagger } from './http/swagger';
import { useAccessLog } from './logging/access-log';
import { AppLogger } from './logging/app-logger';
import { REQUEST_ID_HEADER, requestIdFor } from './logging/logging.module';

/**
 * The API's answers (JSON, problem+json, 404s) carry OWASP's security headers for REST APIs: a
 * JSON document is never rendered, framed, sniffed or stored by a cache (tenant data, and
 * secrets shown once), and HTTPS is kept. helmet's full set is
 * for HTML pages (opener isolation, DNS prefetch, IE download and Flash policies…): twelve
 * headers, ~700 bytes on every answer, which the service wrote and every client parsed.
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The Swagger UI (/docs…), an HTML page: helmet's headers, worked out once (running its
 * middleware chain per request cost ~7 % of the service's CPU). The CSP lets Swagger UI's own
 * script and styles run.
 */
export const DOCS_SECURITY_HEADERS = headersSetBy(
  helmet({
    contentSecurityPolicy: {
      directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'"] },
    },
  }),
);

export const REQUEST_TIMEOUT_MS = 60_000;
export const HEADERS_TIMEOUT_MS = 20_000;

/**
 * Builds the HTTP application exactly as it runs in production; main.ts and the e2e specs both
 * use it, so the tests exercise the real pipes, guards, filters and body limits.
 */
export async function createApp(options: AppModuleOptions): Promise<NestFastifyApplication> {
  // Fastify, not Express: the adapter alone cost the service ~0.15 ms of CPU per request (see
  // docs/adr/0002-hot-path-performance.md). Behind a reverse proxy the client IP (per-IP rate limits, audit lines)
  // comes from X-Forwarded-For, as trusted here.
  const adapter = new FastifyAdapter({
    trustProxy: trustProxyOption(options.config.trustProxy),
    requestTimeout: REQUEST_TIMEOUT_MS,
    // As Express routed: `/v1/x/` is `/v1/x`, and paths match whatever their case.
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false },
    // One id per request, for the access log and the X-Request-Id answer.
    genReqId: requestIdFor,
    // Bytes Node's HTTP parser cannot read as a request (often what follows a body whose
    // Content-Length was too short): problem+json too, then the connection is closed.
    clientErrorHandler: answerClientError,
    // Refusals of Fastify's router itself (before any hook, guard or filter): problem+json too.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const body =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? problemOf('not_found', 'Not found: a path parameter is longer than any id.')
          : problemOf('validation_failed', 'The URL is not valid: a path segment is not valid percent-encoding.', [
              { field: 'url', rule: 'url_must_be_valid', message: 'the path is not valid percent-encoding' },
            ]);
      // Logged and counted like any answer: Fastify runs no hook on a reply it built outside a route.
      answeredByRouter(request.server, request, reply);
      void setStandardHeaders(request, reply).status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
    },
  });
  const fastify = adapter.getInstance();
  noteRoutes(fastify);
  useBodyParsers(fastify);
  fastify.addHook('onRequest', (request, reply, done) => {
    setStandardHeaders(request, reply);
    done();
  });

  // Draining on shutdown: an answer given while closing also closes its keep-alive connection,
  // which would otherwise hold the server open until the client lets go.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(options), adapter, {
    bodyParser: false,
    bufferLogs: true,
    // Throw instead of exiting: main.ts reports start-up errors in one line, tests see them.
    abortOnError: false,
    // A failed start-up does not print the buffered lines (TypeORM's retries, Nest's own report
    // of the error, each with its stack) in Nest's console format: main.ts says it once.
    autoFlushLogs: false,
  });
  const logger = app.get(AppLogger);
  app.useLogger(logger);
  app.flushLogs();
  authenticateBeforeBody(fastify, app.get(Authenticator));
  limitBeforeBody(fastify, app.get(RateLimits));
  // The root logger: lines outside any request context (see useAccessLog).
  useAccessLog(fastify, logger.root);
  // Cross-origin browsers only from the configured origins (an admin console); none by default.
  if (options.config.corsOrigins.length > 0) {
    app.enableCors({
      origin: options.config.corsOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      // If-None-Match: a console's conditional reads (304) are cross-origin too.
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: [
        'Allow',
        'ETag',
        'Idempotent-Replayed',
        'Location',
        'WWW-Authenticate',
        'Retry-After',
        'RateLimit-Limit',
        'RateLimit-Remaining',
        'RateLimit-Reset',
        'X-Request-Id',
      ],
      maxAge: 600,
      // An OPTIONS without Access-Control-Request-Method is answered as Express's cors did (204),
      // not with @fastify/cors's text/plain 400.
      strictPreflight: false,
    });
  }
  setupSwagger(app);
  // Slow or stalled clients cannot hold connections forever.
  app.getHttpServer().headersTimeout = HEADERS_TIMEOUT_MS;
  return app;
}

/** Fastify's default client-error answer, as problem+json with the API's security headers. */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const body =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? problemOf('request_timeout', 'The request was not received in time.')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? problemOf('request_header_fields_too_large', 'The request headers are larger than the server accepts.')
        : problemOf('validation_failed', 'The request is not valid HTTP/1.1: bytes after a body whose Content-Length is shorter than it, or a malformed request line or header.', [
            { field: 'request', rule: 'request_must_be_valid_http', message: 'the bytes received are not a valid HTTP/1.1 request' },
          ]);
  const text = JSON.stringify(body);
  const headers = Object.entries(API_SECURITY_HEADERS)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${body.status} ${STATUS_CODES[body.status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n${headers}\r\n${text}`,
    );
  }
  socket.destroy();
}

/** What every response carries, router refusals included: the security headers and the request id. */
function setStandardHeaders(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.headers(isDocsPath(request.url) ? DOCS_SECURITY_HEADERS : API_SECURITY_HEADERS).header(REQUEST_ID_HEADER, request.id);
}

// /docs, /docs/…, /docs-json, /docs-yaml, in any case (as the router matches them).
const DOCS_URL = new RegExp(`^/${DOCS_PATH}(?:[/?-]|$)`, 'i');

export function isDocsPath(url: string): boolean {
  return DOCS_URL.test(url);
}

/** TRUST_PROXY as Express read it: a number is a hop count (Fastify would trust no hop at all). */
function trustProxyOption(value: AppConfig['trustProxy']): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : value;
}

/** The headers a connect-style middleware sets, run once against a response that only records them. */
function headersSetBy(middleware: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  let called = false;
  middleware({ headers: {} } as IncomingMessage, recorder as unknown as ServerResponse, (error) => {
    if (error) throw error;
    called = true;
  });
  // A middleware that answered asynchronously or per request could not be recorded once.
  if (!called || Object.keys(headers).length === 0) throw new Error('security headers: the middleware did not set its headers synchronously');
  return Object.freeze(headers);
}
