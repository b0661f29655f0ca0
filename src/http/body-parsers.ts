import type { INestApplication } from '@nestjs/common';
import { json, raw, type Request } from 'express';
import { RuleViolation } from '../common/rule-violation';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const EXPORT_BODY_LIMIT = 10 * 1024 * 1024;

// Exports carry up to 10,000 records: a larger limit on those routes only.
const EXPORT_ROUTE = /^\/v1\/organizations\/[^/]+\/integrations\/[^/]+\/exports(\/preview)?\/?$/;
// Inbound webhooks are verified over the exact bytes received, whatever their content type.
const WEBHOOK_ROUTE = /^\/v1\/webhooks\//;

type RawBodyRequest = Request & { rawBody?: Buffer };
const keepRawBody = (req: RawBodyRequest, _res: unknown, buffer: Buffer) => {
  req.rawBody = buffer;
};
const jsonTypes = ['application/json', 'application/*+json'];

/** Body parsing with per-route limits; errors reach the problem filter (413, 400). */
export function useBodyParsers(app: INestApplication): void {
  const webhookParser = raw({ type: () => true, limit: DEFAULT_BODY_LIMIT });
  const exportParser = json({ type: jsonTypes, limit: EXPORT_BODY_LIMIT, verify: keepRawBody });
  const defaultParser = json({ type: jsonTypes, limit: DEFAULT_BODY_LIMIT, verify: keepRawBody });
  app.use((req: RawBodyRequest, res: never, next: (err?: unknown) => void) => {
    const done = (error?: unknown) => next(error ? parserViolation(error as ParserError) : undefined);
    if (WEBHOOK_ROUTE.test(req.path)) return webhookParser(req, res, done);
    if (EXPORT_ROUTE.test(req.path)) return exportParser(req, res, done);
    return defaultParser(req, res, done);
  });
}

interface ParserError extends Error {
  type?: string;
  limit?: number;
}

/** body-parser's errors as the rules they are; the parser's own message may quote the body. */
function parserViolation(error: ParserError): unknown {
  switch (error.type) {
    case 'entity.too.large':
      return new RuleViolation('payload_too_large', 413, `The request body exceeds the limit of ${error.limit} bytes for this route.`);
    case 'entity.parse.failed':
      return RuleViolation.validation(
        [{ field: 'body', rule: 'body_must_be_valid_json', message: 'the request body is not valid JSON' }],
        'The request body is not valid JSON.',
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new RuleViolation('unsupported_media_type', 415, 'The request body encoding is not supported.');
    case 'request.aborted':
      return new RuleViolation('validation_failed', 400, 'The request was aborted by the client.');
    default:
      return error;
  }
}
