// A local Xledger GraphQL endpoint for tests: HTTPS on 127.0.0.1 with the run's self-signed
// certificate, answering `addGLImportItems` and a `{ __typename }` probe in the vendor's shapes,
// with throttling, refusals, lost answers and refused tokens on demand, and a record of every
// request it received.
//
// Built from the vendor's own material, not from our client:
// - xledger/graphql-samples `Webhooks-CSharp/GraphQL/GraphQLClient.cs`: POST {endpoint} with
//   `Authorization: token <token>` and a `{ query, variables }` JSON body; errors arrive in
//   `errors[]` with the code in the error's own `code` (`err["code"]`) and data in `extensions`;
//   codes BAD_REQUEST.BURST_RATE_LIMIT_REACHED and BAD_REQUEST.INSUFFICIENT_CREDITS.
// - graphql-samples `Webhooks-CSharp/GraphQL/ProjectSyncer.cs`: waits 5 s after a burst limit and
//   20 minutes without credits ("@TODO: Use extensions { resetAt }"); mutations answer
//   `data.<mutation>.edges[].node.dbId` (an integer).
// - grasp-labs/ds-provider-xledger-py-lib `assets/glImportItems/create/query.graphql`
//   (`mutation ($X: [AddGLImportItemsInput!]!) { addGLImportItems(inputs: $X) { edges { clientId node { … } } } }`),
//   `utils/query_builder.py` (inputs `{ clientId: "<position>", node }`, nested `a { b }` fields),
//   `utils/rules.py` and `tests/test_graphql_utils.py` (error payloads `{ message, code }`, codes
//   BURST_RATE_LIMIT_REACHED, CONCURRENCY_LIMIT_REACHED, INSUFFICIENT_CREDITS; a refused token reads
//   `Bad format for API Token. Expected header: "Authorization: token <your-token>"`; validation
//   codes INVALID_VALUE and ARGUMENTS_OF_CORRECT_TYPE), `linked_service/xledger.py` (the
//   `query { __typename }` probe answers `{ data: { __typename: "Query" } }`).
// - omniboost/go-xledger `types.go` (`[AddGLImportItemsInput!]`, node fields, `amount` a number
//   string), `client.go` (`Authorization: token …`).
// - Xledger help centre, "GraphQL general tips": at most 500 nodes in a mass mutation.
//
// Not published, so chosen here (each marked ASSUMPTION below): the HTTP status of a refused
// token (401, as shared/CONNECTORS.md asks of the fakes; a test may pick 200) and the message for
// a well-formed wrong token; the wording of throttling messages; how an item refusal looks (see
// refuseItems); what a resent `extIdentifier` does. The vendor material says nothing about
// `extIdentifier` being unique: this fake dedupes on it (an item already imported is answered
// with its existing dbId and not created again), which is what API.md's idempotency relies on.
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { testCertificate } from '../tls';

export const XLEDGER_BAD_TOKEN_FORMAT = 'Bad format for API Token. Expected header: "Authorization: token <your-token>"';
/** ASSUMPTION: Xledger's words for a well-formed token it does not know are not published. */
export const XLEDGER_UNKNOWN_TOKEN = 'Invalid API token.';
export const XLEDGER_MAX_INPUTS = 500;

export type XledgerThrottleCode = 'BAD_REQUEST.BURST_RATE_LIMIT_REACHED' | 'BAD_REQUEST.CONCURRENCY_LIMIT_REACHED' | 'BAD_REQUEST.INSUFFICIENT_CREDITS';

export interface RecordedRequest {
  method: string;
  path: string;
  /** As node:http gives them: lower-cased names. */
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The parsed JSON body, or undefined when it was not JSON. */
  body: { query?: unknown; variables?: Record<string, unknown>; operationName?: unknown } | undefined;
  operation: 'addGLImportItems' | 'connectionTest' | 'other' | 'invalid';
  /** How it was answered: the HTTP status, or 'lost' when the socket was cut instead. */
  answer: number | 'lost';
}

export interface XledgerFakeItem {
  dbId: number;
  node: Record<string, unknown>;
}

export interface XledgerFakeOptions {
  apiKey: string;
  /** The endpoint's path; `url` ends with it. */
  path?: string;
  /** ASSUMPTION: the HTTP status of a refused token is not published. */
  authFailureStatus?: number;
}

export interface RefuseOptions {
  /**
   * false (default): the request is refused as a whole before anything is created, each refused
   * item named in an `errors[]` entry the way graphql-dotnet reports an invalid variable
   * (`Variable '$inputs[3].node' is invalid. <message>`, code INVALID_VALUE), no `data`.
   * true: the other items are created and answered in `edges`; each refused item gets an error
   * `{ message, path: ['addGLImportItems'], extensions: { code: 'BAD_REQUEST', clientId } }`.
   * ASSUMPTION both: Xledger does not publish how one refused item shows.
   */
  partial?: boolean;
}

export interface XledgerFake {
  /** The GraphQL endpoint: `https://127.0.0.1:<port>/graphql`. */
  url: string;
  /** The PEM of the certificate it serves (self-signed: trust it as a CA). */
  cert: string;
  requests: RecordedRequest[];
  /** The ledger: created GL import items by extIdentifier (`#<dbId>` for one sent without). */
  items: Map<string, XledgerFakeItem>;
  /**
   * The next `n` requests are answered with this throttling error (HTTP 200), before any work; or,
   * with `afterItems`, an `addGLImportItems` creates its first `afterItems` items and answers their
   * edges beside the error (ASSUMPTION: whether Xledger ever stops part-way is not published; the
   * GraphQL spec lets an answer carry `data` and `errors` together, a partial result).
   */
  throttleNext(code: XledgerThrottleCode, n?: number, extensions?: Record<string, unknown>, options?: { afterItems?: number }): void;
  /** Items whose extIdentifier is listed (or that the predicate picks) are refused with `message`, until cleared. */
  refuseItems(match: string[] | ((node: Record<string, unknown>) => boolean), message: string, options?: RefuseOptions): void;
  clearRefusals(): void;
  /** The next `n` requests are carried out in full, then the connection is cut before the answer. */
  loseAnswerNext(n?: number): void;
  /** The next `n` requests get this HTTP status (429, 5xx…) and headers, before any work. */
  failNext(status: number, n?: number, headers?: Record<string, string>): void;
  /** While on, every request is refused as if its token was revoked. */
  rejectAuth(on?: boolean): void;
  /** The next request is recorded and carried out, its answer held until `release()` (a test acts while it is in flight). */
  holdNext(): { release(): void };
  close(): Promise<void>;
}

interface Refusal {
  match: string[] | ((node: Record<string, unknown>) => boolean);
  message: string;
  partial: boolean;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export async function startXledgerFake(options: XledgerFakeOptions): Promise<XledgerFake> {
  const { key, cert } = await testCertificate();
  const path = options.path ?? '/graphql';
  const authFailureStatus = options.authFailureStatus ?? 401;
  const requests: RecordedRequest[] = [];
  const items = new Map<string, XledgerFakeItem>();
  const throttles: { code: XledgerThrottleCode; extensions?: Record<string, unknown>; afterItems?: number }[] = [];
  const failures: { status: number; headers: Record<string, string> }[] = [];
  let refusals: Refusal[] = [];
  let lose = 0;
  let authRejected = false;
  const holds: Promise<void>[] = [];
  let nextDbId = 81_000_001;

  const handle = (record: RecordedRequest): Answer => {
    if (record.path !== path) return { status: 404, body: { errors: [{ message: 'Not Found' }] } };
    if (record.method !== 'POST') return { status: 405, headers: { allow: 'POST' }, body: { errors: [{ message: 'Method Not Allowed' }] } };
    const failure = failures.shift();
    if (failure) return { status: failure.status, headers: failure.headers, body: failure.status >= 500 ? 'Service Unavailable' : { errors: [{ message: 'Too Many Requests' }] } };

    const authorization = record.headers.authorization;
    const token = typeof authorization === 'string' ? /^token (\S+)$/.exec(authorization)?.[1] : undefined;
    if (token === undefined) return { status: authFailureStatus, body: { errors: [{ message: XLEDGER_BAD_TOKEN_FORMAT }] } };
    if (token !== options.apiKey || authRejected) return { status: authFailureStatus, body: { errors: [{ message: XLEDGER_UNKNOWN_TOKEN }] } };

    const throttle = throttles.shift();
    if (throttle) {
      // ASSUMPTION: the messages; the codes and their place are the vendor's.
      const message = throttle.code === 'BAD_REQUEST.INSUFFICIENT_CREDITS' ? 'Not enough credits' : 'Too many requests';
      const error = { message, code: throttle.code, ...(throttle.extensions ? { extensions: throttle.extensions } : {}) };
      if (throttle.afterItems !== undefined && record.operation === 'addGLImportItems' && record.body) {
        const partial = addGLImportItems(stripComments(String(record.body.query)), record.body.variables ?? {}, throttle.afterItems);
        const answered = partial.body as { data?: unknown; errors?: unknown[] };
        if (answered.data) return { status: 200, body: { data: answered.data, errors: [...(answered.errors ?? []), error] } };
      }
      return { status: 200, body: { errors: [error], data: null } };
    }

    const body = record.body;
    if (record.operation === 'invalid' || !body) {
      return { status: 400, body: { errors: [{ message: 'A GraphQL request needs a JSON body with a "query" string', extensions: { code: 'INVALID_REQUEST' } }] } };
    }
    if (record.operation === 'connectionTest') return { status: 200, body: { data: { __typename: 'Query' } } };
    if (record.operation === 'addGLImportItems') return addGLImportItems(stripComments(String(body.query)), body.variables ?? {});
    return { status: 200, body: { errors: [{ message: 'This fake implements addGLImportItems and { __typename } only', extensions: { code: 'FIELD_NOT_IMPLEMENTED' } }] } };
  };

  /** `limit`: only the first so many inputs are carried out (a throttle part-way). */
  const addGLImportItems = (query: string, variables: Record<string, unknown>, limit?: number): Answer => {
    const argument = /\baddGLImportItems\s*\(\s*inputs\s*:\s*(\$\w+|[[{])/.exec(query);
    if (!argument || !argument[1].startsWith('$')) {
      // Values written into the document instead of variables: refused here, so a test notices.
      return validation(argument ? 'This fake takes addGLImportItems inputs as a variable only' : 'addGLImportItems needs an "inputs" argument', 'ARGUMENTS_OF_CORRECT_TYPE');
    }
    const name = argument[1].slice(1);
    if (!new RegExp(`\\$${name}\\s*:\\s*\\[\\s*AddGLImportItemsInput\\s*!\\s*\\]\\s*!?`).test(query)) {
      return validation(`Variable '$${name}' must be declared as [AddGLImportItemsInput!]`, 'VARIABLES_IN_ALLOWED_POSITION');
    }
    const inputs = variables[name];
    if (!Array.isArray(inputs)) return validation(`Variable '$${name}' is invalid. Expected a list.`, 'INVALID_VALUE');
    if (inputs.length > XLEDGER_MAX_INPUTS) return validation(`Variable '$${name}' is invalid. At most ${XLEDGER_MAX_INPUTS} inputs a request.`, 'INVALID_VALUE');

    // Variables are checked before anything runs: one bad input refuses the whole request.
    const invalid: { message: string; extensions: Record<string, unknown> }[] = [];
    inputs.forEach((input, i) => {
      const problem = inputProblem(input);
      if (problem) invalid.push({ message: `Variable '$${name}[${i}]${problem.at}' is invalid. ${problem.message}`, extensions: { code: 'INVALID_VALUE' } });
    });
    if (invalid.length > 0) return { status: 200, body: { errors: invalid } };

    const typed = (inputs as { clientId?: string; node: Record<string, unknown> }[]).slice(0, limit);
    const refusedAt = new Map<number, Refusal>();
    typed.forEach((input, i) => {
      const refusal = refusals.find((r) => (Array.isArray(r.match) ? r.match.includes(String(input.node.extIdentifier)) : r.match(input.node)));
      if (refusal) refusedAt.set(i, refusal);
    });
    const whole = [...refusedAt].filter(([, r]) => !r.partial);
    if (whole.length > 0) {
      return {
        status: 200,
        body: { errors: whole.map(([i, r]) => ({ message: `Variable '$${name}[${i}].node' is invalid. ${r.message}`, extensions: { code: 'INVALID_VALUE' } })) },
      };
    }

    const wantsClientId = /\bedges\s*\{[^}]*\bclientId\b/.test(query);
    const wantsDbId = /\bnode\s*\{[^}]*\bdbId\b/.test(query);
    const edges: Record<string, unknown>[] = [];
    const errors: Record<string, unknown>[] = [];
    typed.forEach((input, i) => {
      const refusal = refusedAt.get(i);
      if (refusal) {
        errors.push({
          message: refusal.message,
          path: ['addGLImportItems'],
          extensions: { code: 'BAD_REQUEST', ...(input.clientId !== undefined ? { clientId: input.clientId } : {}) },
        });
        return;
      }
      const extIdentifier = typeof input.node.extIdentifier === 'string' && input.node.extIdentifier !== '' ? input.node.extIdentifier : undefined;
      let item = extIdentifier === undefined ? undefined : items.get(extIdentifier);
      if (!item) {
        item = { dbId: nextDbId++, node: structuredClone(input.node) };
        items.set(extIdentifier ?? `#${item.dbId}`, item);
      }
      edges.push({ ...(wantsClientId && input.clientId !== undefined ? { clientId: input.clientId } : {}), node: wantsDbId ? { dbId: item.dbId } : {} });
    });
    return { status: 200, body: { data: { addGLImportItems: { edges } }, ...(errors.length > 0 ? { errors } : {}) } };
  };

  const server: Server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: RecordedRequest['body'];
      try {
        const parsed: unknown = JSON.parse(rawBody);
        body = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as RecordedRequest['body']) : undefined;
      } catch {
        body = undefined;
      }
      const record: RecordedRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0],
        headers: req.headers,
        rawBody,
        body,
        operation: operationOf(body),
        answer: 0,
      };
      requests.push(record);
      const answer = handle(record);
      if (lose > 0) {
        lose--;
        record.answer = 'lost';
        req.socket.destroy();
        return;
      }
      const respond = () => {
        record.answer = answer.status;
        const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
        res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json; charset=utf-8', ...answer.headers });
        res.end(text);
      };
      const hold = holds.shift();
      if (hold) void hold.then(respond);
      else respond();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `https://127.0.0.1:${port}${path}`,
    cert,
    requests,
    items,
    throttleNext(code, n = 1, extensions, throttleOptions = {}) {
      for (let i = 0; i < n; i++) throttles.push({ code, extensions, afterItems: throttleOptions.afterItems });
    },
    refuseItems(match, message, refuseOptions = {}) {
      refusals.push({ match, message, partial: refuseOptions.partial ?? false });
    },
    clearRefusals() {
      refusals = [];
    },
    loseAnswerNext(n = 1) {
      lose += n;
    },
    failNext(status, n = 1, headers = {}) {
      for (let i = 0; i < n; i++) failures.push({ status, headers });
    },
    rejectAuth(on = true) {
      authRejected = on;
    },
    holdNext() {
      let release!: () => void;
      holds.push(new Promise<void>((resolve) => (release = resolve)));
      return { release: () => release() };
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

function stripComments(query: string): string {
  return query.replace(/#[^\n]*/g, '');
}

function operationOf(body: RecordedRequest['body']): RecordedRequest['operation'] {
  if (!body || typeof body.query !== 'string') return 'invalid';
  const query = stripComments(body.query);
  if (/^\s*(query\b[^{]*)?\{\s*__typename\s*\}\s*$/.test(query)) return 'connectionTest';
  if (/^\s*mutation\b/.test(query) && /\baddGLImportItems\s*\(/.test(query)) return 'addGLImportItems';
  return 'other';
}

function validation(message: string, code: string): Answer {
  return { status: 200, body: { errors: [{ message, extensions: { code } }] } };
}

const DECIMAL = /^-?\d+(\.\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** What graphql-dotnet would refuse in one input when coercing the variable (a subset: the fields we send). */
function inputProblem(input: unknown): { at: string; message: string } | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { at: '', message: 'Expected an AddGLImportItemsInput object.' };
  const { clientId, node } = input as { clientId?: unknown; node?: unknown };
  if (clientId !== undefined && typeof clientId !== 'string') return { at: '.clientId', message: 'Expected a String.' };
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return { at: '.node', message: 'No value provided for a non-null "node".' };
  const fields = node as Record<string, unknown>;
  // The vendor types `amount` as a decimal string and `postedDate` as a date.
  for (const name of ['amount', 'invoiceAmount', 'taxAmount']) {
    if (fields[name] !== undefined && !(typeof fields[name] === 'string' && DECIMAL.test(fields[name]))) {
      return { at: `.node.${name}`, message: `Unable to convert '${String(fields[name])}' to 'Decimal'` };
    }
  }
  for (const name of ['postedDate', 'invoiceDate', 'dueDate']) {
    if (fields[name] !== undefined && !(typeof fields[name] === 'string' && DATE.test(fields[name]))) {
      return { at: `.node.${name}`, message: `Unable to convert '${String(fields[name])}' to 'Date'` };
    }
  }
  for (const name of ['account', 'currency', 'transactionSource', 'glObject1', 'glObject2', 'glObject3', 'glObject4', 'glObject5', 'project', 'subledger']) {
    const value = fields[name];
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) return { at: `.node.${name}`, message: 'Expected an object.' };
  }
  if (fields.extIdentifier !== undefined && typeof fields.extIdentifier !== 'string') return { at: '.node.extIdentifier', message: 'Expected a String.' };
  return null;
}
