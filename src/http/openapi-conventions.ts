import type { OpenAPIObject } from '@nestjs/swagger';
import { ROLES_EXTENSION } from '../auth/auth.decorators';
import { problem, PROBLEM_CONTENT_TYPE, titleForCode } from '../common/problem';

// What every operation of the document shares, written once here instead of on 27 handlers:
// the responses any request can get (401, 429, 500), the headers every response carries, and a
// description naming who may call the operation and the rules that can refuse it.

// The document is walked generically; its typed form (OpenAPIObject) would need a cast at every step.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Probes are exempt from rate limits (see the health controller). */
const isRateLimitExempt = (path: string) => path.startsWith('/health/');

const TAGS = [
  { name: 'Integration types', description: 'The registry of external systems: their credentials, required target fields and the internal expense-claim schema.' },
  { name: 'Integration configs', description: "One organization's connection to one external system, its secrets (write-only, stored encrypted) and its sync history." },
  { name: 'Field mappings', description: 'How internal expense-claim fields become the fields an external system expects: versions, order, coverage and previews.' },
  { name: 'Exports', description: 'Expense claims turned into the records an external system expects: previews without side effects, and recorded runs.' },
  { name: 'Inbound webhooks', description: 'Signed deliveries from the external systems, verified over the raw body and stored once.' },
  { name: 'Health', description: 'Liveness and readiness probes; no token, no rate limit.' },
];

const RATE_LIMIT_HEADERS: Json = {
  'RateLimit-Limit': {
    description:
      'Requests allowed in the window by the budget this request was counted against (writes or reads per token, unauthenticated requests per client IP). Absent when the request was refused before it was counted (401, 403).',
    schema: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  },
  'RateLimit-Remaining': { description: 'Requests left in the window.', schema: { type: 'integer', minimum: 0, maximum: 10_000_000 } },
  'RateLimit-Reset': { description: 'Seconds until the budget is whole again (it refills continuously over a minute).', schema: { type: 'integer', minimum: 0, maximum: 60 } },
};

const CORS_HEADER: Json = {
  'Access-Control-Allow-Origin': {
    description: 'Only when the request came from a browser origin listed in CORS_ORIGINS; never `*`. Absent otherwise: cross-origin browsers are refused by default.',
    schema: { type: 'string', format: 'uri', maxLength: 2048 },
  },
};

const RETRY_AFTER: Json = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1, maximum: 3600 } } };

function problemResponse(status: number, code: string, description: string, headers: Json = {}): Json {
  return {
    description,
    headers,
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: { $ref: '#/components/schemas/ProblemResponse' },
        examples: { [code]: { summary: titleForCode(code), value: problem(status, code, `Example: ${titleForCode(code).toLowerCase()}`) } },
      },
    },
  };
}

/** The rule names an operation's problem responses list (their examples are keyed by rule). */
function rulesOf(operation: Json): string[] {
  const rules = new Set<string>();
  for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
    if (!/^[45]/.test(status)) continue;
    const examples = response.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {};
    for (const key of Object.keys(examples)) rules.add(key);
  }
  return [...rules];
}

function describeOperation(operation: Json): string {
  const roles: string[] | undefined = operation[ROLES_EXTENSION];
  const who = roles?.length ? `Roles: ${roles.map((r) => `\`${r}\``).join(', ')}.` : 'No bearer token.';
  const rules = rulesOf(operation);
  const lines = [operation.description ?? `${operation.summary}.`, who];
  if (rules.length) lines.push(`Problem codes and rules: ${rules.map((r) => `\`${r}\``).join(', ')}.`);
  return lines.join('\n\n');
}

function completeParameterSchema(parameter: Json): void {
  const schema = (parameter.schema ??= {});
  if (schema.format === 'uuid') {
    schema.type ??= 'string';
    schema.maxLength ??= 36;
    schema.pattern ??= '^[0-9a-fA-F-]{36}$';
  }
}

/** A date-time as this service writes it (toISOString) or accepts it (ISO 8601, bounded). */
const DATE_TIME_MAX_LENGTH = 40;

/** Every schema in the document, wherever it is nested. */
function forEachSchema(node: unknown, visit: (schema: Json) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) forEachSchema(item, visit);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const object = node as Json;
  if (typeof object.type === 'string' || object.oneOf || object.nullable !== undefined) visit(object);
  for (const [key, value] of Object.entries(object)) if (key !== 'example' && key !== 'examples') forEachSchema(value, visit);
}

/** Bounds that follow from a schema's format, and integer widths. */
function completeSchema(schema: Json): void {
  if (schema.type === 'string' && schema.format === 'uuid') {
    schema.maxLength ??= 36;
    schema.minLength ??= 36;
  }
  if (schema.type === 'string' && schema.format === 'date-time') schema.maxLength ??= DATE_TIME_MAX_LENGTH;
  if (schema.type === 'integer' && !schema.format) schema.format = (schema.maximum ?? 0) > 2_147_483_647 ? 'int64' : 'int32';
  // OpenAPI 3.0: nullable needs a type; a nullable oneOf of objects is an object.
  if (schema.nullable !== undefined && !schema.type && schema.oneOf?.every((s: Json) => s.type === 'object')) schema.type = 'object';
}

/**
 * Completes the document in place and returns it. Pure: reads nothing but the document.
 */
export function applyOpenApiConventions(document: OpenAPIObject): OpenAPIObject {
  const doc = document as Json;
  doc.servers = [{ url: '/', description: 'This service, wherever it runs (local, staging or production): paths are relative to the document', 'x-internal': false }];
  const used = new Set<string>();

  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation: Json | undefined = item[method];
      if (!operation) continue;
      for (const tag of operation.tags ?? []) used.add(tag);
      for (const parameter of operation.parameters ?? []) completeParameterSchema(parameter);

      const responses: Json = (operation.responses ??= {});
      const secured = (operation.security ?? doc.security ?? []).length > 0;
      const limited = !isRateLimitExempt(path);
      if (secured && !responses['401']) responses['401'] = problemResponse(401, 'unauthorized', 'Missing, malformed, expired or refused credentials.');
      if (limited && !responses['429']) responses['429'] = problemResponse(429, 'rate_limited', 'Over the rate limit; nothing was done.');
      if (!responses['500']) responses['500'] = problemResponse(500, 'internal_error', 'Unexpected error; it is logged with the request id. Nothing is half-written.');
      if (limited && !responses['400'] && !responses['422'] && !responses['4XX']) {
        responses['4XX'] = problemResponse(400, 'validation_failed', 'Any other client error, as problem+json with the rule that refused the request.');
      }
      if (limited && responses['429']) responses['429'].headers = { ...RETRY_AFTER, ...responses['429'].headers };

      for (const [status, response] of Object.entries<Json>(responses)) {
        const headers: Json = { ...response.headers, ...CORS_HEADER };
        if (limited && /^[24]/.test(status)) Object.assign(headers, RATE_LIMIT_HEADERS);
        response.headers = headers;
      }
      operation.description = describeOperation(operation);
    }
  }

  forEachSchema(doc.paths, completeSchema);
  forEachSchema(doc.components, completeSchema);

  const known = new Set(TAGS.map((t) => t.name));
  doc.tags = [...TAGS.filter((t) => used.has(t.name)), ...[...used].filter((t) => !known.has(t)).map((name) => ({ name }))];
  return document;
}
