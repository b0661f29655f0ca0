import { createHash } from 'node:crypto';
import type { OpenAPIObject } from '@nestjs/swagger';
import { ROLES_EXTENSION } from '../auth/auth.decorators';
import { problem, PROBLEM_CONTENT_TYPE, titleForCode } from '../common/problem';
import { problemAnswer, SERVICE_ANSWERS, UNKNOWN_ANSWER_PREFIX, type ProblemAnswer } from './api-problem';
import { EXPORT_BODY_LIMIT } from './body-parsers';
import { METRICS_AUTH } from './swagger';

// What every operation of the document shares, written once here instead of on 27 handlers:
// the responses any request can get (401, 429, 500, and 413/415 with a body, 503 where a database
// or a key set is asked), the headers every response carries, the null semantics of OpenAPI 3.0,
// closed request schemas, and a description naming who may call the operation and the rules that
// can refuse it.

// The document is walked generically; its typed form (OpenAPIObject) would need a cast at every step.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Probes are exempt from rate limits (see the health controller). */
const isRateLimitExempt = (path: string) => path.startsWith('/health/');

/**
 * Operations that never answer 503: the liveness probe (the process is up) and the metrics (a
 * queue that cannot be read is a NaN gauge). Every other one reads or writes the database, or
 * checks a bearer token against AUTH_JWKS_URL's key set when one is configured.
 */
const NEVER_UNAVAILABLE = new Set(['/health/live', '/metrics']);

/** Export runs and previews also answer 503 (with Retry-After) when too many records are being mapped at once (mapping-pool.ts). */
const isMappingRoute = (path: string, method: string) => method === 'post' && /\/exports(\/preview)?$/.test(path);

const TAGS = [
  { name: 'Integration types', description: 'The registry of external systems: their credentials, required target fields and the internal expense-claim schema.' },
  { name: 'Integration configs', description: "One organization's connection to one external system, its secrets (write-only, stored encrypted) and its sync history." },
  { name: 'Field mappings', description: 'How internal expense-claim fields become the fields an external system expects: versions, order, coverage and previews.' },
  { name: 'Exports', description: 'Expense claims turned into the records an external system expects: previews without side effects, and recorded runs.' },
  { name: 'Inbound webhooks', description: 'Signed deliveries from the external systems, verified over the raw body and stored once.' },
  { name: 'Health', description: 'Liveness and readiness probes; no token, no rate limit.' },
  { name: 'Metrics', description: 'Prometheus metrics, behind their own bearer secret (METRICS_TOKEN); no tenant data in any label.' },
];

// Response headers are components, referenced from each response: one short row each in Swagger
// UI, the long explanation once (in the document's description, see swagger.ts).
const HEADERS: Json = {
  'RateLimit-Limit': {
    description: 'Requests allowed per window by the budget this request counted against.',
    schema: { type: 'integer', minimum: 1, maximum: 10_000_000 },
  },
  'RateLimit-Remaining': { description: 'Requests left in the window.', schema: { type: 'integer', minimum: 0, maximum: 10_000_000 } },
  'RateLimit-Reset': { description: 'Seconds until the budget is whole again.', schema: { type: 'integer', minimum: 0, maximum: 1_000_000 } },
  'Access-Control-Allow-Origin': {
    description: 'Only for a browser origin listed in CORS_ORIGINS; never `*`.',
    schema: { type: 'string', format: 'uri', maxLength: 2048 },
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1, maximum: 1_000_000 } },
};
const headerRef = (name: string): Json => ({ $ref: `#/components/headers/${name}` });
const RATE_LIMIT_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'];

/** The security scheme names the inbound webhook operation once used for its signatures. */
export const WEBHOOK_SIGNATURE = 'webhook_signature';
export const XLEDGER_SIGNATURE = 'xledger_signature';

/**
 * Inbound webhooks prove themselves with an HMAC of the body. As security schemes they would be
 * fill-in boxes in Swagger UI's Authorize dialog that no admin can use (a signature covers one
 * body at one time): the operation that names them gets them as documented header parameters
 * instead, and no security requirement (it takes no bearer token).
 */
const SIGNATURE_HEADERS: Record<string, Json> = {
  [WEBHOOK_SIGNATURE]: {
    name: 'webhook-signature',
    in: 'header',
    required: false,
    description: "Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256>` over `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed by the config's webhook secret.",
    schema: { type: 'string', minLength: 4, maxLength: 1024, pattern: '^v1,', example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' },
  },
  [XLEDGER_SIGNATURE]: {
    name: 'X-XL-Webhook-Signature',
    in: 'header',
    required: false,
    description: "Xledger: base64url HMAC-SHA256 over `<Unix seconds of the Date header>.<raw body>`, keyed by the config's API token.",
    schema: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_-]+={0,2}$', example: 'q3VbqO2bX9d8Jt5yQm0k3Zr1cW8pL4sT6uE7hN2aF0g' },
  },
};

function moveSignaturesToHeaders(operation: Json): void {
  const requirements: Json[] | undefined = operation.security;
  if (!requirements?.some((r) => Object.keys(r).some((name) => name in SIGNATURE_HEADERS))) return;
  const parameters: Json[] = (operation.parameters ??= []);
  for (const requirement of requirements) {
    for (const name of Object.keys(requirement)) {
      const header = SIGNATURE_HEADERS[name];
      if (header && !parameters.some((p) => p.in === 'header' && p.name === header.name)) parameters.push(structuredClone(header));
    }
  }
  operation.security = requirements.filter((r) => !Object.keys(r).some((name) => name in SIGNATURE_HEADERS));
}

function problemResponse(status: number, code: string, description: string): Json {
  return {
    description,
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: { $ref: '#/components/schemas/ProblemResponse' },
        examples: { [code]: { summary: titleForCode(code), value: problemAnswer(status, code) } },
      },
    },
  };
}

const WRITE_METHODS = new Set(['post', 'put', 'patch', 'delete']);
const ROLE_ORDER = ['sync_service', 'org_admin', 'global_admin'];

/** What the services call a resource when it is not found (RuleViolation.notFound), where its path segment does not say it. */
const RESOURCE_NAMES: Record<string, string> = { integrations: 'Integration config', webhooks: 'Integration', exports: 'Export run' };

/** The resource a 404 of this path names: the one its last id belongs to (`…/field-mappings/{id}` → Field mapping). */
function resourceOfPath(path: string): string | undefined {
  const segments = path.split('/');
  const last = segments
    .map((segment, i) => (/^\{.+\}$/.test(segment) && segment !== '{org_id}' ? i : -1))
    .filter((i) => i > 0)
    .pop();
  // Only the organization in the path: a malformed one is what is not found (org-scope.guard.ts).
  if (last === undefined) return path.includes('{org_id}') ? 'Organization' : undefined;
  const collection = segments[last - 1];
  const words = RESOURCE_NAMES[collection] ?? collection.replace(/s$/, '').replace(/-/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The answer of a code that depends on the route (its roles, its budget, its body limit, its resource). */
function routeAnswer(code: string, path: string, method: string, operation: Json): ProblemAnswer | undefined {
  const webhook = path.startsWith('/v1/webhooks/');
  switch (code) {
    case 'forbidden': {
      const roles: string[] = operation[ROLES_EXTENSION] ?? [];
      const refused = ROLE_ORDER.find((role) => !roles.includes(role));
      if (refused) return { detail: `The role ${refused} may not do this.` };
      return WRITE_METHODS.has(method) ? { detail: 'Global admins have read-only access for support: no write of any kind.' } : undefined;
    }
    case 'rate_limited':
      if (webhook) return { detail: 'Too many deliveries for this integration: retry in 1 s.' };
      return { detail: `Too many requests: at most ${WRITE_METHODS.has(method) ? 300 : 3000} per minute; retry in 1 s.` };
    case 'payload_too_large':
      return path.includes('/exports') ? { detail: `The request body exceeds the limit of ${EXPORT_BODY_LIMIT} bytes for this route.` } : undefined;
    // A webhook's body is kept as bytes of any media type: only a Content-Encoding is refused (body-parsers.ts).
    case 'unsupported_media_type':
      return webhook ? { detail: 'The request body encoding is not supported: send it uncompressed.' } : undefined;
    // The problem filter's words (problem.filter.ts); the readiness probe's own are SERVICE_ANSWERS'.
    case 'service_unavailable':
      return path === '/health/ready' ? undefined : { detail: 'The database is unavailable; retry shortly.' };
    case 'not_found': {
      const missing = resourceOfPath(path);
      return missing ? { detail: `${missing} not found` } : undefined;
    }
    case 'disabled_integration_must_not_sync':
      if (webhook) return { detail: 'This integration is disabled: its webhooks are not accepted.' };
      if (path.endsWith('/sync')) return { detail: 'This integration is disabled: nothing is delivered to it.' };
      if (path.includes('/exports')) return { detail: 'This integration is disabled: nothing may be exported to it.' };
      return undefined;
    default:
      return undefined;
  }
}

/** Answers a 400 of a DTO field from its validators (given by the caller: the document alone does not know them). */
export type ValidationAnswers = (inputs: { bodySchema?: string; queryNames: string[] }, rule: string) => ProblemAnswer | undefined;

/**
 * Every problem example becomes an answer of the service: the route's own (roles, budget, limits),
 * a validator's for a DTO field's 400, or SERVICE_ANSWERS' as ApiProblemResponses wrote it.
 */
function answerProblemExamples(path: string, method: string, operation: Json, validationAnswers?: ValidationAnswers): void {
  const bodyRef: string | undefined = operation.requestBody?.content?.['application/json']?.schema?.$ref;
  const inputs = { bodySchema: bodyRef?.split('/').pop(), queryNames: (operation.parameters ?? []).filter((p: Json) => p.in === 'query').map((p: Json) => p.name) };
  for (const response of Object.values<Json>(operation.responses ?? {})) {
    const examples: Json = response.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {};
    for (const [code, example] of Object.entries<Json>(examples)) {
      const value = example.value;
      const declared = SERVICE_ANSWERS[code as keyof typeof SERVICE_ANSWERS];
      // A route that wrote its own answer keeps it.
      const isDefault = !declared || value.detail === declared.detail || String(value.detail).startsWith(UNKNOWN_ANSWER_PREFIX);
      const answer =
        (isDefault && routeAnswer(code, path, method, operation)) || (String(value.detail).startsWith(UNKNOWN_ANSWER_PREFIX) ? validationAnswers?.(inputs, code) : undefined);
      if (answer) example.value = problem(value.status, value.code, answer.detail, answer.errors);
    }
  }
}

/** A stable, plausible UUID (version 4 layout) for a name: each kind of id gets its own. */
export function exampleUuid(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${'89ab'[parseInt(hex[16], 16) % 4]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** What an id names: `integration_id` and IntegrationConfigResponse's `id` are the same config. */
function idKind(schemaName: string, property: string): string {
  if (property === 'id') {
    const entity = schemaName
      .replace(/(Summary)?Response$/, '')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toLowerCase();
    return entity === 'integration_config' ? 'integration' : entity;
  }
  if (/^(created_by|updated_by|recorded_by|sub|actor_id|user_id)$/.test(property)) return 'user';
  if (property === 'previous_version_id' || property === 'mapping_id') return 'field_mapping';
  if (property === 'resource_id') return 'integration';
  return property.replace(/_id$/, '');
}

const DATE_TIMES: Record<string, string> = {
  created_at: '2026-11-20T08:15:00.000Z',
  updated_at: '2026-11-22T10:00:00.000Z',
  started_at: '2026-11-22T10:00:00.000Z',
  finished_at: '2026-11-22T10:00:04.250Z',
  received_at: '2026-11-22T10:02:31.000Z',
  occurred_at: '2026-11-22T10:00:00.000Z',
  last_sync_at: '2026-11-22T10:00:04.250Z',
  last_success_at: '2026-11-22T10:00:04.250Z',
  next_attempt_at: '2026-11-22T10:05:00.000Z',
};

/**
 * Response and request examples: each kind of id its own UUID (Swagger UI would show the same one
 * everywhere), the same UUID where two fields name the same resource, and date-times that follow
 * each other. A field with an example of its own keeps it.
 */
function completeExamples(schemas: Json): void {
  for (const [schemaName, schema] of Object.entries<Json>(schemas)) {
    for (const [property, field] of Object.entries<Json>(schema.properties ?? {})) {
      if (field.example !== undefined || field.$ref || field.allOf) continue;
      if (field.format === 'uuid') field.example = exampleUuid(idKind(schemaName, property));
      else if (field.format === 'date-time') field.example = DATE_TIMES[property] ?? '2026-11-22T10:00:00.000Z';
      else if (field.type === 'array' && field.items?.format === 'uuid') field.example = [exampleUuid('field_mapping'), exampleUuid('field_mapping:2')];
      // An opaque cursor as the lists issue them (sealed under key id `k1`: src/crypto/sealed-cursor.ts).
      else if (property === 'next_cursor') field.example = 'AQJrMSG0gDslSMQFHtG2owE2r7M6nvqqKi-J9kn2MnP_a_Y-_LQZ54wv6szP0hmemQ';
      // Unset is the plausible value of an optional text (an error, a secret never shown): not "string".
      else if (field.type === 'string' && field.nullable && !field.enum) field.example = null;
      // A signing secret shown once keeps no example, as the write-only ones: a secret is never to be
      // copied from documentation, and any value in its alphabet would read as one leaked there.
    }
  }
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
  const metricsToken = (operation.security ?? []).some((s: Json) => METRICS_AUTH in s);
  const who = roles?.length ? `Roles: ${roles.map((r) => `\`${r}\``).join(', ')}.` : metricsToken ? 'The metrics token only: no user token.' : 'No bearer token.';
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

/** null as a member of a oneOf: a schema that accepts null and nothing else (OpenAPI 3.0 has no `type: 'null'`). */
const nullMember = (): Json => ({ type: 'object', nullable: true, enum: [null], description: 'null' });

/** Whether a schema accepts null by OpenAPI 3.0's rules (a `$ref` is taken not to: this document's components are objects). */
const admitsNull = (schema: Json): boolean => schema.nullable === true && typeof schema.type === 'string' && (!schema.enum || schema.enum.includes(null));

/**
 * OpenAPI 3.0.3: `nullable: true` adds null to the `type` beside it, and to nothing else. An `enum`
 * without null, an `allOf` of a `$ref` (how Nest writes a nullable nested DTO), a `oneOf` or an
 * `anyOf` of objects still refuse null, so strict validators (Ajv) and generated clients refused
 * the nulls the service answers. null is added where it is checked: to the enum, or as a member
 * of a oneOf (anyOf) that the schema becomes.
 */
function admitNull(schema: Json): void {
  if (schema.nullable !== true) return;
  // New arrays: an enum or a oneOf may be the very array a validator checks (IsIn(SYNC_STATUSES)).
  if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...schema.enum, null];
  if (schema.allOf) {
    const members: Json[] = schema.allOf;
    schema.oneOf = [members.length === 1 ? members[0] : { allOf: members }, nullMember()];
    delete schema.allOf;
  } else if (schema.oneOf || schema.anyOf) {
    const key = schema.oneOf ? 'oneOf' : 'anyOf';
    if (!schema[key].some(admitsNull)) schema[key] = [...schema[key], nullMember()];
  } else {
    return;
  }
  // The members say what the value is; a type beside them would have to admit every one of them.
  delete schema.nullable;
  delete schema.type;
}

/**
 * The validation pipe refuses any field a request DTO does not declare (unknown_field): the
 * schemas of request bodies, and the DTOs nested in them, say so with `additionalProperties:
 * false`. A schema that says otherwise keeps it (the free-form maps inside: extra_config,
 * records); a component a response also uses is left open (responses may grow fields).
 */
function closeRequestSchemas(doc: Json): void {
  const schemas: Json = doc.components?.schemas ?? {};
  const operations = Object.values<Json>(doc.paths ?? {}).flatMap((item) => METHODS.map((method) => item[method]).filter(Boolean));
  const reached = (roots: Json[]): Set<string> => {
    const names = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== 'object') return;
      const ref = (node as Json).$ref;
      if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
        const name = ref.split('/').pop()!;
        if (names.has(name)) return;
        names.add(name);
        walk(schemas[name]);
      }
      for (const [key, value] of Object.entries(node)) if (key !== 'example' && key !== 'examples') walk(value);
    };
    walk(roots);
    return names;
  };
  const inResponses = reached(operations.map((op) => op.responses ?? {}));
  const close = (schema: Json | undefined): void => {
    if (!schema || typeof schema !== 'object' || schema.$ref) return;
    if (schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
    for (const property of Object.values<Json>(schema.properties ?? {})) close(property);
    close(schema.items);
    for (const member of [...(schema.oneOf ?? []), ...(schema.allOf ?? []), ...(schema.anyOf ?? [])]) close(member);
  };
  const bodies = operations.flatMap((op) => Object.values<Json>(op.requestBody?.content ?? {}).map((media) => media.schema));
  for (const name of reached(bodies)) if (!inResponses.has(name)) close(schemas[name]);
  for (const schema of bodies) close(schema);
}

/** Bounds that follow from a schema's format, and integer widths. */
function completeSchema(schema: Json): void {
  if (schema.type === 'string' && schema.format === 'uuid') {
    schema.maxLength ??= 36;
    schema.minLength ??= 36;
  }
  if (schema.type === 'string' && schema.format === 'date-time') schema.maxLength ??= DATE_TIME_MAX_LENGTH;
  if (schema.type === 'integer' && !schema.format) schema.format = (schema.maximum ?? 0) > 2_147_483_647 ? 'int64' : 'int32';
  admitNull(schema);
}

/**
 * Completes the document in place and returns it. Pure: reads nothing but the document (and
 * the validators' answers, when given).
 */
export function applyOpenApiConventions(document: OpenAPIObject, validationAnswers?: ValidationAnswers): OpenAPIObject {
  const doc = document as Json;
  doc.components ??= {};
  doc.components.headers = structuredClone(HEADERS);
  doc.servers = [{ url: '/', description: 'This service, wherever it runs (local, staging or production): paths are relative to the document', 'x-internal': false }];
  const used = new Set<string>();

  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation: Json | undefined = item[method];
      if (!operation) continue;
      for (const tag of operation.tags ?? []) used.add(tag);
      moveSignaturesToHeaders(operation);
      for (const parameter of operation.parameters ?? []) completeParameterSchema(parameter);

      // Nest shares one response object among the operations of a controller-level decorator: each operation gets its own.
      const responses: Json = (operation.responses = structuredClone(operation.responses ?? {}));
      const secured = (operation.security ?? doc.security ?? []).length > 0;
      const limited = !isRateLimitExempt(path);
      if (secured && !responses['401']) responses['401'] = problemResponse(401, 'unauthorized', 'Missing, malformed, expired or refused credentials.');
      if (limited && !responses['429']) responses['429'] = problemResponse(429, 'rate_limited', 'Over the rate limit; nothing was done.');
      if (!responses['500']) responses['500'] = problemResponse(500, 'internal_error', 'Unexpected error; it is logged with the request id. Nothing is half-written.');
      if (limited && !responses['400'] && !responses['422'] && !responses['4XX']) {
        responses['4XX'] = problemResponse(400, 'url_must_be_valid', 'Any other client error, as problem+json with the rule that refused the request.');
      }
      // Refused by the body parser before any handler (body-parsers.ts): nothing was read or done.
      // Fastify reads the body of every write, DELETE included, whether the route takes one or not.
      const readsBody = WRITE_METHODS.has(method);
      if (readsBody && !responses['413']) {
        responses['413'] = problemResponse(413, 'payload_too_large', "The request body is over this route's limit; nothing was read or done.");
      }
      if (readsBody && !responses['415']) {
        const accepted = path.startsWith('/v1/webhooks/') ? 'any media type, uncompressed' : 'JSON (application/json or a +json type), UTF-8, uncompressed';
        responses['415'] = problemResponse(415, 'unsupported_media_type', `The request body is not ${accepted}; nothing was done.`);
      }
      if (!NEVER_UNAVAILABLE.has(path) && !responses['503']) {
        const mapping = isMappingRoute(path, method) ? ' Also when too many records are being mapped at once (with Retry-After).' : '';
        responses['503'] = problemResponse(
          503,
          'service_unavailable',
          `The database did not answer (or, for a bearer token checked against AUTH_JWKS_URL, the issuer's key set): retry shortly; nothing was written.${mapping}`,
        );
      }
      answerProblemExamples(path, method, operation, validationAnswers);

      for (const [status, response] of Object.entries<Json>(responses)) {
        const retryAfter = (status === '429' && limited) || (status === '503' && isMappingRoute(path, method));
        const names = [...(retryAfter ? ['Retry-After'] : []), 'Access-Control-Allow-Origin', ...(limited && /^[24]/.test(status) ? RATE_LIMIT_HEADERS : [])];
        const own = Object.fromEntries(Object.entries<Json>(response.headers ?? {}).filter(([name]) => !(name in HEADERS)));
        response.headers = { ...own, ...Object.fromEntries(names.map((name) => [name, headerRef(name)])) };
      }
      operation.description = describeOperation(operation);
    }
  }

  forEachSchema(doc.paths, completeSchema);
  forEachSchema(doc.components, completeSchema);
  closeRequestSchemas(doc);
  completeExamples(doc.components.schemas ?? {});

  const known = new Set(TAGS.map((t) => t.name));
  doc.tags = [...TAGS.filter((t) => used.has(t.name)), ...[...used].filter((t) => !known.has(t)).map((name) => ({ name }))];
  return document;
}
