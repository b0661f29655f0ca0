import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jsonBodyViolations } from '../common/json-body';
import { RuleViolation } from '../common/rule-violation';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const EXPORT_BODY_LIMIT = 10 * 1024 * 1024;

// Exports carry up to 10,000 records: a larger limit on those routes only (matched on the
// route's pattern, `/v1/organizations/:org_id/integrations/:id/exports`).
const EXPORT_ROUTE = /^\/v1\/organizations\/[^/]+\/integrations\/[^/]+\/exports(\/preview)?\/?$/;
// Inbound webhooks are verified over the exact bytes received, whatever their content type.
// Matched on the route's pattern, as Fastify routed the request: the URL as sent may spell the
// same route differently (`/v1/%77ebhooks/…`).
const WEBHOOK_ROUTE = /^\/v1\/webhooks\/:[^/]+$/;
const RAW_BODY = 'rawBody';
const JSON_TYPE = /^application\/(?:[^;\s]+\+)?json$/i;

/**
 * Body parsing with per-route limits: JSON only (strict: an object or an array, valid UTF-8, no
 * Content-Encoding, nothing jsonBodyViolations refuses), except inbound webhooks, whose body is kept as the bytes received.
 * Refusals reach the problem filter as rules (400, 413, 415).
 */
export function useBodyParsers(fastify: FastifyInstance): void {
  // Fastify reads at most a route's bodyLimit bytes, so an oversized body is refused while it streams.
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit = EXPORT_ROUTE.test(route.url) ? EXPORT_BODY_LIMIT : DEFAULT_BODY_LIMIT;
    if (WEBHOOK_ROUTE.test(route.url)) route.config = { ...route.config, [RAW_BODY]: true };
  });
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, parseBody(request, body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

function parseBody(request: FastifyRequest, body: Buffer): unknown {
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    throw new RuleViolation('unsupported_media_type', 'The request body encoding is not supported: send it uncompressed.');
  }
  if ((request.routeOptions.config as unknown as Record<string, unknown> | undefined)?.[RAW_BODY] === true) return body;
  // An empty body is no body, whatever the Content-Type a client sends by default.
  if (body.length === 0) return undefined;
  const [mediaType, ...parameters] = (request.headers['content-type'] ?? '').split(';');
  if (!JSON_TYPE.test(mediaType.trim())) {
    throw new RuleViolation('unsupported_media_type', 'The request body must be application/json.');
  }
  const charset = parameters.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
  if (charset && !['charset=utf-8', 'charset="utf-8"', 'charset=utf8'].includes(charset)) {
    throw new RuleViolation('unsupported_media_type', 'The request body must be UTF-8.');
  }
  // Decoding would replace invalid bytes with U+FFFD: the body would be stored other than sent.
  if (!isUtf8(body)) {
    throw RuleViolation.validation([{ field: 'body', rule: 'body_must_be_valid_utf8', message: 'the request body is not valid UTF-8' }], 'The request body is not valid UTF-8.');
  }
  const text = body.toString('utf8');
  // Strict, as body-parser was: a JSON text that is not an object or an array is refused.
  const first = /\S/.exec(text)?.[0];
  if (first !== '{' && first !== '[') throw invalidJson();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the body: never repeated.
    throw invalidJson();
  }
  const violations = jsonBodyViolations(parsed);
  if (violations.length > 0) throw RuleViolation.validation(violations);
  return parsed;
}

function invalidJson(): RuleViolation {
  return RuleViolation.validation([{ field: 'body', rule: 'body_must_be_valid_json', message: 'the request body is not valid JSON' }], 'The request body is not valid JSON.');
}

/**
 * Fastify's own refusals while reading a body, as the rules they are; and a host application's
 * JSON parser's (Express's body-parser names it by `type`), whose message may quote the bytes it
 * choked on: never repeated.
 */
export function bodyReadViolation(code: string | undefined, request?: unknown): RuleViolation | undefined {
  switch (code) {
    case 'entity.parse.failed':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalidJson();
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = (request as Partial<FastifyRequest> | undefined)?.routeOptions?.bodyLimit ?? DEFAULT_BODY_LIMIT;
      return new RuleViolation('payload_too_large', `The request body exceeds the limit of ${limit} bytes for this route.`);
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RuleViolation('unsupported_media_type', 'The Content-Type header is not a valid media type.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new RuleViolation('validation_failed', 'The request body does not match its Content-Length.', [
        { field: 'body', rule: 'content_length_must_match', message: 'the body is not as long as its Content-Length says' },
      ]);
    default:
      return undefined;
  }
}
