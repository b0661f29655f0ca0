// Xledger's GraphQL on the wire: a row's output as an `addGLImportItems` node, the request
// bodies, and what an answer means. Pure: no Nest imports, no I/O.
//
// Vendor facts relied on (shared/CONNECTORS.md has the list):
// - `addGLImportItems(inputs: [AddGLImportItemsInput!]!)`, each input `{ clientId, node }`, answers
//   `edges { clientId node { dbId } }` (grasp-labs/ds-provider-xledger-py-lib
//   `assets/glImportItems/create/query.graphql`, `utils/query_builder.py`: clientId = the input's
//   position; omniboost/go-xledger `types.go`); `amount` is a decimal string, `account { code }`.
// - At most 500 nodes a mass mutation (Xledger help centre, "GraphQL general tips").
// - Errors come as HTTP 200 with `errors[]`; the code is the error's own `code` (graphql-samples
//   `GraphQLClient.cs` reads `err["code"]`; grasp-labs also reads `extensions.code`):
//   BURST_RATE_LIMIT_REACHED (the sample waits 5 s), CONCURRENCY_LIMIT_REACHED, INSUFFICIENT_CREDITS
//   (the sample waits 20 minutes, "@TODO: use extensions { resetAt }").
// - A refused token: `Bad format for API Token. Expected header: "Authorization: token <your-token>"`
//   in `errors[]` (grasp-labs `utils/rules.py`); the HTTP status is not published, so 401/403 count too.
import { utcCalendarDate } from '../../common/calendar-date';
import { plainDecimal } from '../../common/plain-decimal';
import { headerValue, retryAfterSeconds, secondsUntil } from '../../egress/retry-after';
import type { DeliveryFailureKind, DeliveryRow } from '../../sync/connector';

export const XLEDGER_MAX_ITEMS = 500;

/** Burst and concurrency limits: the vendor's sample waits 5 s. */
export const XLEDGER_THROTTLE_WAIT_SECONDS = 5;
/** Out of credits without `resetAt`: the vendor's sample waits 20 minutes. */
export const XLEDGER_CREDITS_WAIT_SECONDS = 20 * 60;

export const BURST_RATE_LIMIT_REACHED = 'BAD_REQUEST.BURST_RATE_LIMIT_REACHED';
export const CONCURRENCY_LIMIT_REACHED = 'BAD_REQUEST.CONCURRENCY_LIMIT_REACHED';
export const INSUFFICIENT_CREDITS = 'BAD_REQUEST.INSUFFICIENT_CREDITS';

/** Values travel as variables only: nothing from a row is ever written into the document. */
export const ADD_GL_IMPORT_ITEMS_MUTATION = `mutation MeanderAddGLImportItems($inputs: [AddGLImportItemsInput!]!) {
  addGLImportItems(inputs: $inputs) {
    edges {
      clientId
      node {
        dbId
      }
    }
  }
}`;

/** The connection test: read-only, no scope needed beyond a valid token (grasp-labs `linked_service/xledger.py` probes the same way). */
export const CONNECTION_TEST_QUERY = 'query MeanderConnectionTest { __typename }';

export interface GraphQLRequestBody {
  query: string;
  variables?: Record<string, unknown>;
}

export interface GLImportInput {
  clientId: string;
  node: Record<string, unknown>;
}

export type NodeTranslation = { ok: true; input: GLImportInput } | { ok: false; error: string };

// Fields with a fixed Xledger shape; every other target field is written as its (dotted) name.
const AMOUNT = 'Amount';
const TRANSACTION_DATE = 'TransactionDate';
const ACCOUNT_CODE = 'AccountCode';
const EXT_IDENTIFIER = 'extIdentifier';
// A GraphQL name; `__` names are the schema's own (and `__proto__` must never become a key).
const FIELD_NAME = /^(?!__)[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A row as one `addGLImportItems` input, or why it cannot be sent (it is then `failed` without
 * a request). `clientId` is the row's index: answers name their input by it.
 */
export function toGLImportInput(row: DeliveryRow): NodeTranslation {
  const node: Record<string, unknown> = {};
  const out = row.output;

  const amount = formatDecimal(out[AMOUNT]);
  if (amount === null) return { ok: false, error: `${AMOUNT} ${describe(out[AMOUNT])} ${whyNotDecimal(out[AMOUNT])}` };
  const postedDate = formatPostedDate(out[TRANSACTION_DATE]);
  if (postedDate === null) return { ok: false, error: `${TRANSACTION_DATE} ${describe(out[TRANSACTION_DATE])} is not a date (yyyy-MM-dd or dd.MM.yyyy)` };
  const accountCode = out[ACCOUNT_CODE];
  if (!isScalar(accountCode) || String(accountCode).trim() === '') return { ok: false, error: `${ACCOUNT_CODE} ${describe(accountCode)} is not an account code` };

  // [target field, where it goes in the node, value]
  const assignments: [string, string, unknown][] = [
    [AMOUNT, 'amount', amount],
    [TRANSACTION_DATE, 'postedDate', postedDate],
    [ACCOUNT_CODE, 'account.code', String(accountCode)],
  ];
  // Keys, not entries, and no split or closure for a plain name: this runs for every row of every
  // export preview (Connector.refusalOf) as well as every row delivered.
  for (const field of Object.keys(out)) {
    const value = out[field];
    if (field === AMOUNT || field === TRANSACTION_DATE || field === ACCOUNT_CODE) continue;
    // Absent and null alike: Xledger keeps its default.
    if (value === undefined || value === null) continue;
    // The idempotency key is ours, never a mapped value.
    if (field === EXT_IDENTIFIER) continue;
    assignments.push([field, field, value]);
  }
  assignments.push([EXT_IDENTIFIER, EXT_IDENTIFIER, row.reference]);

  const assignedBy = new Map<string, string>();
  for (const [field, target, value] of assignments) {
    const path = target.includes('.') ? target.split('.') : [target];
    if (!allFieldNames(path)) return { ok: false, error: `target field "${clip(field)}" is not an Xledger field name` };
    const clash = place(node, path, value);
    if (clash !== null) return { ok: false, error: `target field "${clip(field)}" collides with "${clip(assignedBy.get(clash) ?? clash)}"` };
    assignedBy.set(target, field);
  }
  return { ok: true, input: { clientId: String(row.index), node } };
}

/**
 * What toGLImportInput refuses of a row's output, or null: its own rules and words, for a row not
 * sent (an export preview). The reference and index change nothing it refuses.
 */
export function glImportRefusal(output: Record<string, unknown>): string | null {
  const translated = toGLImportInput({ index: 0, reference: '', output });
  return translated.ok ? null : translated.error;
}

function allFieldNames(path: string[]): boolean {
  for (let i = 0; i < path.length; i++) if (!FIELD_NAME.test(path[i])) return false;
  return true;
}

/**
 * Writes `value` at `path`; the path already taken that prevents it, or null. Own keys only: a
 * plain object inherits `constructor`, `toString`…, which are no field written before.
 */
function place(node: Record<string, unknown>, path: string[], value: unknown): string | null {
  const taken = (object: Record<string, unknown>, key: string) => (Object.hasOwn(object, key) ? object[key] : undefined);
  let target = node;
  for (let depth = 0; depth < path.length - 1; depth++) {
    const key = path[depth];
    const existing = taken(target, key);
    if (existing === undefined) target[key] = {};
    else if (!isPlainObject(existing)) return path.slice(0, depth + 1).join('.');
    target = target[key] as Record<string, unknown>;
  }
  const leaf = path[path.length - 1];
  const existing = taken(target, leaf);
  if (existing !== undefined) return isPlainObject(existing) ? firstLeaf(path, existing as Record<string, unknown>) : path.join('.');
  target[leaf] = value;
  return null;
}

function firstLeaf(prefix: string[], object: Record<string, unknown>): string {
  const [key, value] = Object.entries(object)[0] ?? [];
  if (key === undefined) return prefix.join('.');
  return isPlainObject(value) ? firstLeaf([...prefix, key], value as Record<string, unknown>) : [...prefix, key].join('.');
}

// One to three digits (not led by 0), a comma and exactly three digits: "1,234" is 1234 as the `format` transform
// groups it (`#,##0`) or 1.234 with a decimal comma. Guessing either may be 1000× off: refused.
const AMBIGUOUS_COMMA = /^[-+]?[1-9]\d{0,2},\d{3}$/;
// A number written with an exponent (1e-7, 1.5E+21): refused as a string, where it is not ours to reinterpret.
const EXPONENT_FORM = /^[-+]?\d+(?:\.\d+)?e[-+]?\d+$/i;
// Commas grouping in threes before a decimal point ("1,234.50", `#,##0.00`): the commas can only be grouping.
const GROUPED_WITH_POINT = /^[-+]?\d{1,3}(?:,\d{3})+\.\d+$/;

/** True for an amount that reads as two numbers 1000× apart ("1,234", "-12,345"). */
export function isAmbiguousDecimal(value: unknown): boolean {
  return typeof value === 'string' && AMBIGUOUS_COMMA.test(value.trim());
}

/** Why formatDecimal refused an amount, for the row's error. */
function whyNotDecimal(value: unknown): string {
  if (typeof value === 'string' && EXPONENT_FORM.test(value.trim())) return 'is in exponent form; Xledger takes a plain decimal string (0.0000001, not 1e-7)';
  if (!isAmbiguousDecimal(value)) return 'is not a decimal number';
  const written = String(value).trim();
  return `is ambiguous: ${written.replace(',', '')} with a thousands separator or ${written.replace(',', '.')} with a decimal comma; format it without grouping (0.00)`;
}

/**
 * `amount` is a decimal string (vendor type "string"): `120.5`, `"120.50"`, `"120,50"` (a decimal
 * comma), `"1,234.50"` (grouping before a point); no exponent, no other grouping, nothing ambiguous.
 * A number is written out in plain decimal form, however small or large (1e-7 goes as 0.0000001).
 */
export function formatDecimal(value: unknown): string | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    // 15 significant digits are what a double holds exactly: a formula's 0.1 + 0.2 goes as 0.3, not 0.30000000000000004.
    return plainDecimal(Number(value.toPrecision(15)));
  }
  if (typeof value !== 'string') return null;
  let text = value.trim();
  if (AMBIGUOUS_COMMA.test(text)) return null;
  if (GROUPED_WITH_POINT.test(text)) text = text.replace(/,/g, '');
  const match = /^([-+]?)(\d+)(?:[.,](\d+))?$/.exec(text);
  if (!match) return null;
  const [, sign, whole, fraction] = match;
  return `${sign === '-' ? '-' : ''}${whole}${fraction === undefined ? '' : `.${fraction}`}`;
}

/**
 * `postedDate` as `yyyy-MM-dd`. A calendar date passes as written; a timestamp gives the date it
 * was written with (format it in the mapping to pick a zone); `dd.MM.yyyy` is the house's formatted
 * date. Anything else would be a guess.
 */
export function formatPostedDate(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  let parts = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  let [y, m, d] = parts ? [parts[1], parts[2], parts[3]] : [];
  if (!parts) {
    parts = /^(\d{2})\.(\d{2})\.(\d{4})$/.exec(text);
    if (!parts) return null;
    [d, m, y] = [parts[1], parts[2], parts[3]];
  }
  return utcCalendarDate(Number(y), Number(m), Number(d)) === null ? null : `${y}-${m}-${d}`;
}

export function addGLImportItemsBody(inputs: GLImportInput[]): GraphQLRequestBody {
  return { query: ADD_GL_IMPORT_ITEMS_MUTATION, variables: { inputs } };
}

export function connectionTestBody(): GraphQLRequestBody {
  return { query: CONNECTION_TEST_QUERY };
}

// --- answers ---

/** What came back, as the transport gives it. */
export interface XledgerHttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The whole request failed: nothing in it was carried out but the items in `created`. */
export interface WholeFailure {
  kind: DeliveryFailureKind;
  /** Never the token: a code, a status, or Xledger's own words (the caller scrubs those). */
  message: string;
  retryAfterSeconds?: number;
  /** false: the wait is the sample code's, Xledger named none (DeliveryFailure.retryAfterNamed). */
  retryAfterNamed?: boolean;
  /**
   * clientId → dbId of items the answer shows created all the same: a GraphQL answer may carry
   * `data` beside `errors` (a partial result), and an edge naming one of our clientIds with a node
   * is that input created. An item an error names too is left out (it goes again: its
   * extIdentifier makes that safe).
   */
  created?: Map<string, string | null>;
}

/**
 * An `addGLImportItems` answer, item by item.
 *
 * How a refused item shows is not published. The vendor material shows `edges` keyed by the
 * inputs' `clientId`, and errors carrying `message`, `code` and `extensions`; the GraphQL spec
 * makes a mutation that fails as a whole answer no data (`data.addGLImportItems` null), and
 * Xledger's validation codes (INVALID_VALUE, ARGUMENTS_OF_CORRECT_TYPE in grasp-labs' rules) are
 * graphql-dotnet's, whose variable errors read "Variable '$inputs[3].node.amount' is invalid. …".
 * So an error names an item by `extensions.clientId` (or `clientId`), by `$inputs[i]` in its
 * message, or by a numeric index in its `path`; `executed` says whether the mutation ran at all
 * (an `edges` list came back): if it did not, nothing was created and the other items may be sent
 * again; if it did, an item neither in `edges` nor named may exist and is never sent twice.
 */
export interface AddAnswer {
  executed: boolean;
  /** clientId → Xledger's dbId (as a string; null when the edge carried none). */
  created: Map<string, string | null>;
  /** clientId → Xledger's message. */
  refused: Map<string, string>;
  /** Errors that name no item. */
  otherErrors: string[];
}

export type AnswerReading<T> = { ok: true; value: T } | { ok: false; failure: WholeFailure };

interface GraphQLErrorShape {
  message?: unknown;
  code?: unknown;
  path?: unknown;
  clientId?: unknown;
  extensions?: unknown;
}

/** Reads an `addGLImportItems` answer for inputs sent with these clientIds, in this order. */
export function readAddAnswer(answer: XledgerHttpAnswer, clientIds: string[], now: number): AnswerReading<AddAnswer> {
  const parsed = parseGraphQL(answer, now);
  if (!parsed.ok) {
    const created = createdDespite(answer, clientIds);
    return created.size > 0 ? { ok: false, failure: { ...parsed.failure, created } } : parsed;
  }
  const { json, errors } = parsed.value;

  const known = new Set(clientIds);
  const refused = new Map<string, string>();
  const otherErrors: string[] = [];
  for (const error of errors) {
    const clientId = namedItem(error, clientIds, known);
    if (clientId === null) otherErrors.push(errorText(error));
    else if (!refused.has(clientId)) refused.set(clientId, messageOf(error));
  }

  const edges = edgesOf(json);
  const created = createdIn(edges, clientIds, new Set(refused.keys()));

  // Unexpected status without a GraphQL verdict on the items: the request as a whole failed.
  if (!edges && refused.size === 0 && (answer.status < 200 || answer.status > 299)) {
    return { ok: false, failure: { kind: 'retryable', message: `Xledger answered HTTP ${answer.status}${otherErrors.length ? `: ${otherErrors.join('; ')}` : ''}` } };
  }
  return { ok: true, value: { executed: edges !== null, created, refused, otherErrors } };
}

/** clientId → dbId of the items `edges` lists, but those in `excluded`. */
function createdIn(edges: { clientId?: unknown; node?: unknown }[] | null, clientIds: string[], excluded: Set<string>): Map<string, string | null> {
  const known = new Set(clientIds);
  const created = new Map<string, string | null>();
  if (!edges) return created;
  // Without clientIds (not selected, or an older server) a complete list maps by position.
  const positional = edges.length === clientIds.length && edges.every((edge) => edge.clientId === undefined);
  edges.forEach((edge, position) => {
    const clientId = positional ? clientIds[position] : typeof edge.clientId === 'string' || typeof edge.clientId === 'number' ? String(edge.clientId) : undefined;
    if (clientId === undefined || !known.has(clientId) || excluded.has(clientId)) return;
    if (!isPlainObject(edge.node)) return;
    const dbId = (edge.node as Record<string, unknown>).dbId;
    created.set(clientId, typeof dbId === 'number' || typeof dbId === 'string' ? String(dbId) : null);
  });
  return created;
}

/** The items an answer that failed as a whole (throttled, a refused token…) shows created all the same; see WholeFailure.created. */
function createdDespite(answer: XledgerHttpAnswer, clientIds: string[]): Map<string, string | null> {
  let json: unknown;
  try {
    json = JSON.parse(answer.body.toString('utf8'));
  } catch {
    return new Map();
  }
  if (!isPlainObject(json)) return new Map();
  const body = json as Record<string, unknown>;
  const known = new Set(clientIds);
  const named = new Set<string>();
  for (const error of Array.isArray(body.errors) ? body.errors : []) {
    const clientId = isPlainObject(error) ? namedItem(error as GraphQLErrorShape, clientIds, known) : null;
    if (clientId !== null) named.add(clientId);
  }
  return createdIn(edgesOf(body), clientIds, named);
}

/** Reads the connection test's answer: `data.__typename` from an authenticated request. */
export function readConnectionTestAnswer(answer: XledgerHttpAnswer, now: number): AnswerReading<void> {
  const parsed = parseGraphQL(answer, now);
  if (!parsed.ok) return parsed;
  const { json, errors } = parsed.value;
  if (errors.length > 0) return { ok: false, failure: { kind: 'retryable', message: `Xledger: ${errors.map(errorText).join('; ')}` } };
  const data = json.data;
  if (answer.status !== 200 || !isPlainObject(data) || typeof (data as Record<string, unknown>).__typename !== 'string') {
    return { ok: false, failure: { kind: 'retryable', message: `Xledger answered HTTP ${answer.status} without the expected data` } };
  }
  return { ok: true, value: undefined };
}

/** HTTP status, JSON and the errors that fail any request (token, throttling). */
function parseGraphQL(answer: XledgerHttpAnswer, now: number): AnswerReading<{ json: Record<string, unknown>; errors: GraphQLErrorShape[] }> {
  const { status, headers } = answer;
  if (status === 401 || status === 403) return { ok: false, failure: { kind: 'credentials_rejected', message: `Xledger refused the API token (HTTP ${status})` } };
  if (status === 429 || status >= 500) {
    return {
      ok: false,
      failure: { kind: 'retryable', message: `Xledger answered HTTP ${status}`, retryAfterSeconds: retryAfterSeconds(headerValue(headers, 'retry-after'), now) },
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(answer.body.toString('utf8'));
  } catch {
    json = undefined;
  }
  if (!isPlainObject(json)) return { ok: false, failure: { kind: 'retryable', message: `Xledger answered HTTP ${status} without a GraphQL body` } };
  const body = json as Record<string, unknown>;
  const errors = Array.isArray(body.errors)
    ? body.errors.map((error): GraphQLErrorShape => (isPlainObject(error) ? (error as GraphQLErrorShape) : { message: String(error) }))
    : [];

  const auth = errors.find(isTokenRefusal);
  if (auth) return { ok: false, failure: { kind: 'credentials_rejected', message: `Xledger refused the API token: ${messageOf(auth)}` } };
  for (const error of errors) {
    const code = codeOf(error);
    if (code === BURST_RATE_LIMIT_REACHED || code === CONCURRENCY_LIMIT_REACHED || code === INSUFFICIENT_CREDITS) {
      const fallback = code === INSUFFICIENT_CREDITS ? XLEDGER_CREDITS_WAIT_SECONDS : XLEDGER_THROTTLE_WAIT_SECONDS;
      const named = waitFromExtensions(error, now);
      return { ok: false, failure: { kind: 'retryable', message: code, retryAfterSeconds: named ?? fallback, retryAfterNamed: named !== undefined } };
    }
  }
  return { ok: true, value: { json: body, errors } };
}

const TOKEN_CODES = new Set(['UNAUTHENTICATED', 'UNAUTHORIZED', 'AUTH_NOT_AUTHENTICATED', 'AUTHORIZATION', 'ACCESS_DENIED', 'FORBIDDEN', 'INVALID_TOKEN']);

function isTokenRefusal(error: GraphQLErrorShape): boolean {
  const code = codeOf(error);
  if (code !== null && TOKEN_CODES.has(code)) return true;
  return /\b(api token|invalid token|not authenticated)\b/i.test(messageOf(error));
}

/** The item an error names, if any (see AddAnswer). */
function namedItem(error: GraphQLErrorShape, clientIds: string[], known: Set<string>): string | null {
  const extensions = isPlainObject(error.extensions) ? (error.extensions as Record<string, unknown>) : {};
  for (const candidate of [extensions.clientId, error.clientId]) {
    if ((typeof candidate === 'string' || typeof candidate === 'number') && known.has(String(candidate))) return String(candidate);
  }
  const variable = /\$inputs\[(\d+)\]/.exec(messageOf(error));
  if (variable && clientIds[Number(variable[1])] !== undefined) return clientIds[Number(variable[1])];
  if (Array.isArray(error.path) && error.path[0] === 'addGLImportItems') {
    const index = error.path.find((segment): segment is number => typeof segment === 'number');
    if (index !== undefined && clientIds[index] !== undefined) return clientIds[index];
  }
  return null;
}

function edgesOf(json: Record<string, unknown>): { clientId?: unknown; node?: unknown }[] | null {
  const data = json.data;
  if (!isPlainObject(data)) return null;
  const result = (data as Record<string, unknown>).addGLImportItems;
  if (!isPlainObject(result)) return null;
  const edges = (result as Record<string, unknown>).edges;
  return Array.isArray(edges) ? edges.filter(isPlainObject).map((edge) => edge as { clientId?: unknown; node?: unknown }) : null;
}

function codeOf(error: GraphQLErrorShape): string | null {
  const extensions = isPlainObject(error.extensions) ? (error.extensions as Record<string, unknown>) : {};
  const code = typeof error.code === 'string' ? error.code : typeof extensions.code === 'string' ? extensions.code : null;
  return code === null ? null : code.toUpperCase();
}

function messageOf(error: GraphQLErrorShape): string {
  return typeof error.message === 'string' && error.message.trim() !== '' ? error.message : 'no message';
}

function errorText(error: GraphQLErrorShape): string {
  const code = codeOf(error);
  return code ? `${code}: ${messageOf(error)}` : messageOf(error);
}

/** Seconds until `extensions.resetAt` (ISO time, or Unix seconds/milliseconds), at least 1; undefined without one. */
export function waitFromExtensions(error: { extensions?: unknown }, now: number): number | undefined {
  const extensions = isPlainObject(error.extensions) ? (error.extensions as Record<string, unknown>) : {};
  const resetAt = extensions.resetAt;
  let at: number | undefined;
  if (typeof resetAt === 'string' && resetAt.trim() !== '') at = /^\d+$/.test(resetAt.trim()) ? epochMs(Number(resetAt)) : Date.parse(resetAt);
  else if (typeof resetAt === 'number') at = epochMs(resetAt);
  if (at === undefined || !Number.isFinite(at)) return undefined;
  return secondsUntil(at, now);
}

function epochMs(value: number): number {
  return value > 1e12 ? value : value * 1000;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function describe(value: unknown): string {
  if (value === undefined) return '(missing)';
  return clip(JSON.stringify(value) ?? String(value));
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
