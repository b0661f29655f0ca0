// A local Microsoft Dataverse Web API and Microsoft identity platform token endpoint, on loopback
// over HTTPS, built from Microsoft's published behaviour (not from our client):
//
// - Token (client credentials): learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//   (MicrosoftDocs/entra-docs docs/identity-platform/v2-oauth2-client-creds-grant-flow.md): POST
//   /{tenant}/oauth2/v2.0/token, form body grant_type/client_id/client_secret/scope (or client
//   credentials as HTTP Basic), answer { token_type: "Bearer", expires_in, access_token }; errors
//   400 { error, error_description: "AADSTS…\r\nTrace ID…", error_codes, timestamp, trace_id,
//   correlation_id }. invalid_client/AADSTS7000215 (wrong secret), AADSTS7000218 (no secret),
//   unauthorized_client/AADSTS700016 (unknown app), AADSTS90002 (unknown tenant): Entra's published
//   error codes; invalid_client is answered 401 (RFC 6749 §5.2), the others 400.
// - $batch: learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
//   (MicrosoftDocs/powerapps-docs …/webapi/execute-batch-operations-using-web-api.md) and OData 4.0
//   part 1 §11.7: multipart/mixed with the request's (possibly quoted) boundary; each part
//   Content-Type: application/http + Content-Transfer-Encoding: binary; change sets are nested
//   multipart/mixed parts, all-or-nothing, members carry Content-ID; at most 1,000 requests, no
//   nested batches. Answer 200 OK, `multipart/mixed; boundary=batchresponse_<guid>`, one part per
//   request in order. Without `Prefer: odata.continue-on-error` processing stops at the first
//   failed request and the batch answers 400; with it, 200 and the failure is one part
//   `HTTP/1.1 400 Bad Request` + `{"error":{"code":"0x80044331","message":"…"}}`.
// - Upsert: …/data-platform/use-upsert-insert-update-record.md: PATCH entityset(key='value')
//   creates or updates (never both), 204 No Content + OData-EntityId naming the record by the
//   key in the URL; If-Match: * = update only (404), If-None-Match: * = create only (412); on
//   update a key column in the body is ignored, on create the body's value wins over the URL's.
//   Key syntax: …/use-alternate-key-reference-record.md (`/accounts(accountnumber='ABC123')`).
// - Errors: …/webapi/compose-http-requests-handle-errors.md: `{ "error": { "code", "message" } }`,
//   401 for a bad or missing token, 429 for service protection.
// - Service protection: …/data-platform/api-limits.md: 429 Too Many Requests with Retry-After in
//   seconds; codes 0x80072322 (number of requests), 0x80072321 (execution time), 0x80072326
//   (concurrent requests).
// - Payload errors: learn.microsoft.com/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors
//   (MicrosoftDocs "Troubleshoot Dataverse Web API client errors"): a body the entity type cannot
//   take is 400, code 0x80048d19, `Error identified in Payload provided by the user for Entity
//   :'<entity set>', For more information on this error please follow this help link
//   https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : <the reader's
//   exception>`, as a $batch part too (that page's own example is an undeclared navigation
//   property in an `@odata.bind`). …/data-platform/use-open-types.md: "All types that are defined
//   in Dataverse are closed … If you use the wrong name or set the value to the wrong type, you
//   get an error." The inner exceptions as Dataverse answers were quoted in public projects'
//   tests: `Microsoft.Crm.CrmException: Invalid property 'gendercode' was found in entity
//   'Microsoft.Dynamics.CRM.account'. ---> Microsoft.OData.ODataException: The property
//   'gendercode' does not exist on type 'Microsoft.Dynamics.CRM.account'. Make sure to only use
//   property names that are defined by the type.` and `Microsoft.OData.ODataException: Cannot
//   convert the literal 'Charity' to the expected type 'Edm.Int32'. ---> System.FormatException:
//   Input string was not in a correct format.` (both then go on with .NET stack frames, left out
//   here). How a value is read: OData/odata.net `ODataPayloadValueConverter.ConvertFromPayloadValue`
//   (see readValue below). The same page shows an older wording for an undeclared property (code
//   0x0, "An error occurred while validating input parameters: …"); this fake answers the newer.
// - WhoAmI: GET /api/data/v9.2/WhoAmI (or WhoAmI()) → { "@odata.context": "…$metadata#
//   Microsoft.Dynamics.CRM.WhoAmIResponse", BusinessUnitId, UserId, OrganizationId }.
// - A name Dataverse does not know (MicrosoftDocs "Troubleshoot Dataverse Web API client errors"):
//   an entity set (case-sensitive) is 404 `{"error":{"code":"0x8006088a","message":"Resource not
//   found for the segment 'Account'."}}`; a property in $select is 400 `{"code":"0x0","message":
//   "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."}`. A key
//   that is not the entity's alternate key (…/use-alternate-key-reference-record.md, "Exceptions
//   when using alternate keys with the Web API"): `The key in the request URI is not valid for
//   resource 'Microsoft.Dynamics.CRM.<table logical name>'. Ensure that the names and number of key
//   properties match the declared or alternate key properties for the resource
//   'Microsoft.Dynamics.CRM.<table logical name>'.`; Microsoft gives no status or code for it:
//   400 and 0x80060888 are what public projects recorded from Dataverse. In a $batch each request
//   gets its own such answer, as any failed request does.
// - Reading a collection: GET {entityset}?$select=a,b&$top=n → 200 { "@odata.context", "value":
//   [ { "@odata.etag", a, b, <logical name>id } ] } (…/webapi/query-data-web-api.md; the primary
//   key always comes back).
// - An unauthenticated API request: 401 + `WWW-Authenticate: Bearer authorization_uri=
//   {authority}/{tenant}/oauth2/authorize` (RFC 6750 §3; Dataverse's tenant discovery relies on it).
//
// Not published, chosen here: the fake's error codes and wordings other than those above (empty
// `code`, as the docs say it "is frequently empty"); whether a part inside a batch can itself be
// 429 (throttleNext's `inBatch` mode makes one, or one for each chosen upsert, to exercise a
// client; the batch goes on past it as past any failed part), and so whether two such parts can
// name different Retry-After values (`retryAfterOf` picks one per upsert).
// - Alternate-key values: Microsoft says GET and PATCH "won't work" when the key's value holds
//   one of / # < > * % & : \ ? + (learn.microsoft.com/power-apps/maker/data-platform/
//   define-alternate-keys-portal, "Important"). How they fail is not published; this fake answers
//   400 with ASP.NET's request-validation wording (its default requestPathInvalidCharacters are
//   < > * % & : \ ?), in a batch part as on the URL. The connector sends `meander_<run>_<index>`.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testCertificate } from '../tls';

export interface DataverseFakeOptions {
  tenant: string;
  clientId: string;
  clientSecret: string;
  /** Token lifetime in seconds; default 3599 as Microsoft's sample answer. */
  expiresIn?: number;
  /** Entity set → its alternate key column. Given: other entity sets are 404 and another key column 400. */
  entitySets?: Record<string, string>;
  /**
   * Entity set → its lookups (single-valued navigation property → the entity set it points to).
   * As Dataverse's OData reader: a lookup is set only by `<property>@odata.bind: "/<set>(<id>)"`;
   * a plain value for it, or a binding of a property that is no lookup, is a 400.
   */
  lookups?: Record<string, Record<string, string>>;
  /**
   * Entity set → its columns (the entity type's structural properties) and their types. Given for
   * a set: an upsert body naming a property the type does not declare, or a value its type cannot
   * read, is refused 400 with Dataverse's payload error, nothing applied (a lookup is `lookups`'
   * business; the alternate key column is one of the columns). Not given: any property, any value.
   */
  columns?: Record<string, Record<string, DataverseColumnType>>;
  /** Entity set → its table's logical name, which names the entity type in messages; default the set's name. */
  logicalNames?: Record<string, string>;
}

/** A column as the entity's CSDL types it: money and decimal columns are Edm.Decimal, a date-only column Edm.Date. */
export type DataverseColumnType = 'string' | 'integer' | 'decimal' | 'money' | 'boolean' | 'date';

export interface RecordedRequest {
  kind: 'token' | 'api';
  method: string;
  /** Path and query as received. */
  path: string;
  /** Lower-cased names, as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** How it was answered: the HTTP status, or 'lost' when the connection was cut instead. */
  answer?: number | 'lost';
}

export interface FakeRecord {
  /** The primary key Dataverse gave the record on create. */
  id: string;
  /** The alternate key's value. */
  key: string;
  values: Record<string, unknown>;
  /** Upserts applied to this record (1 = created, never updated). */
  writes: number;
}

/** What a refusal predicate sees of one upsert. */
export interface UpsertSeen {
  entitySet: string;
  key: string;
  body: Record<string, unknown>;
}

/** One request of a parsed batch. */
export interface ParsedBatchRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  contentId?: string;
}

/** A batch's items: single requests, or change sets of them. */
export type ParsedBatchItem = { request: ParsedBatchRequest } | { changeset: ParsedBatchRequest[] };

/** One response to encode into a batch answer. */
export interface FakeResponsePart {
  status: number;
  headers?: [string, string][];
  body?: string;
  contentId?: string;
}

export type FakeResponseItem = FakeResponsePart | { changeset: FakeResponsePart[] };

export interface DataverseFake {
  /** The environment URL: a config's base_url. */
  url: string;
  /** DYNAMICS_AUTHORITY_URL for the connector: the same server serves the token endpoint. */
  authorityUrl: string;
  /** The self-signed certificate (PEM) to trust, and its file (NODE_EXTRA_CA_CERTS). */
  ca: string;
  caFile: string;
  /** Every request received, token endpoint included, in order. */
  readonly requests: RecordedRequest[];
  readonly tokenRequests: RecordedRequest[];
  readonly apiRequests: RecordedRequest[];
  /** The records of an entity set, oldest first (copies). */
  table(entitySet: string): FakeRecord[];
  /** Records created since the start (an update is not one). */
  readonly createdCount: number;
  setExpiresIn(seconds: number): void;
  /** The token endpoint answers invalid_client (a rotated or revoked secret) while on. */
  rejectCredentials(on?: boolean): void;
  /** Every token issued so far stops being accepted (401). */
  revokeTokens(): void;
  /**
   * The next n API requests answer 429 + Retry-After (or, `inBatch`, the first upsert of the next
   * n batches does; with `parts`, each upsert of those batches that it picks, nothing applied;
   * with `retryAfterOf`, each throttled upsert's own Retry-After).
   */
  throttleNext(
    n: number,
    retryAfterSeconds: number,
    options?: { inBatch?: boolean; code?: string; parts?: (upsert: UpsertSeen) => boolean; retryAfterOf?: (upsert: UpsertSeen) => number },
  ): void;
  /** Upserts matching the predicate are refused (400, or `status`) with the OData error `message`; nothing applied. */
  refuseRows(predicate: (upsert: UpsertSeen) => boolean, message: string, options?: { code?: string; status?: number }): void;
  /** The next n API requests are applied in full, then the connection is cut before the answer. */
  loseAnswerNext(n: number): void;
  close(): Promise<void>;
}

const API_PREFIX = '/api/data/v9.2/';
/** Dataverse's code for a resource name (an entity set) it does not know (Microsoft's troubleshooting page). */
const SEGMENT_NOT_FOUND_CODE = '0x8006088a';
/** What public projects recorded from Dataverse for a key that is not the entity's alternate key (Microsoft gives the message only). */
const INVALID_KEY_CODE = '0x80060888';
const MAX_BATCH_REQUESTS = 1000;
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const THROTTLE_MESSAGES: Record<string, string> = {
  '0x80072322': 'Number of requests exceeded the limit of 6000 over time window of 300 seconds.',
  '0x80072321':
    'Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.',
  '0x80072326': 'Number of concurrent requests exceeded the limit of 52.',
};

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly headers: [string, string][],
    readonly body: string,
  ) {}
}

export async function startDataverseFake(options: DataverseFakeOptions): Promise<DataverseFake> {
  const { key, cert, caFile } = await testCertificate();
  const requests: RecordedRequest[] = [];
  const tables = new Map<string, Map<string, FakeRecord>>();
  const tokens = new Map<string, { expiresAt: number; audience: string }>();
  const identity = { BusinessUnitId: randomUUID(), UserId: randomUUID(), OrganizationId: randomUUID() };
  let expiresIn = options.expiresIn ?? 3599;
  let rejecting = false;
  let created = 0;
  let throttle: {
    remaining: number;
    retryAfter: number;
    inBatch: boolean;
    code: string;
    parts?: (upsert: UpsertSeen) => boolean;
    retryAfterOf?: (upsert: UpsertSeen) => number;
  } = {
    remaining: 0,
    retryAfter: 0,
    inBatch: false,
    code: '0x80072322',
  };
  let lose = 0;
  let refusal: { predicate: (upsert: UpsertSeen) => boolean; message: string; code: string; status: number } | undefined;
  let origin = '';

  const server: Server = createServer({ key, cert }, (req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, new HttpAnswer(500, [['Content-Type', 'application/json']], JSON.stringify({ error: { code: '', message: String(error) } })));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = req.url ?? '/';
    const isToken = /^\/[^/]+\/oauth2\/v2\.0\/token(?:\?|$)/.test(path);
    const record: RecordedRequest = { kind: isToken ? 'token' : 'api', method: req.method ?? '', path, headers: { ...req.headers }, body };
    requests.push(record);
    const answer = (result: HttpAnswer) => {
      record.answer = result.status;
      send(res, result);
    };
    if (isToken) return answer(tokenEndpoint(req, path, body));
    const unauthorized = authenticate(req);
    if (unauthorized) return answer(unauthorized);
    if (throttle.remaining > 0 && !throttle.inBatch) {
      throttle.remaining--;
      return answer(throttled(throttle.retryAfter));
    }
    const result = api(req, path, body);
    if (lose > 0) {
      lose--;
      // Applied in full above; the client never learns it.
      record.answer = 'lost';
      req.socket.destroy();
      return;
    }
    answer(result);
  }

  function tokenEndpoint(req: IncomingMessage, path: string, body: string): HttpAnswer {
    const tenant = decodeURIComponent(path.split('/')[1] ?? '');
    if (req.method !== 'POST') return new HttpAnswer(405, [], '');
    const form = new URLSearchParams(body);
    let clientId = form.get('client_id');
    let clientSecret = form.get('client_secret');
    const basic = /^Basic\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, colon));
      clientSecret = decodeURIComponent(decoded.slice(colon + 1));
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return tokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    }
    if (form.get('grant_type') !== 'client_credentials') return tokenError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    if (tenant !== options.tenant)
      return tokenError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    if (clientId !== options.clientId) {
      return tokenError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
    }
    if (!clientSecret) return tokenError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (rejecting || clientSecret !== options.clientSecret) {
      return tokenError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    const scope = form.get('scope') ?? '';
    if (scope !== `${origin}/.default`)
      return tokenError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);
    const accessToken = randomBytes(32).toString('base64url');
    tokens.set(accessToken, { expiresAt: Date.now() + expiresIn * 1000, audience: origin });
    return json(200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken });
  }

  function authenticate(req: IncomingMessage): HttpAnswer | undefined {
    const bearer = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
    const token = bearer ? tokens.get(bearer[1]) : undefined;
    if (token && token.expiresAt > Date.now() && token.audience === origin) return undefined;
    return new HttpAnswer(401, [['WWW-Authenticate', `Bearer authorization_uri=${origin}/${options.tenant}/oauth2/authorize, resource_id=${origin}/`]], '');
  }

  function api(req: IncomingMessage, path: string, body: string): HttpAnswer {
    const resource = path.startsWith(API_PREFIX) ? path.slice(API_PREFIX.length) : undefined;
    if (resource === '$batch' && req.method === 'POST') return batch(req, body);
    return execute({ method: req.method ?? '', url: path, headers: flatHeaders(req.headers), body }, 'commit');
  }

  function batch(req: IncomingMessage, body: string): HttpAnswer {
    let items: ParsedBatchItem[];
    try {
      items = parseBatchRequest(String(req.headers['content-type'] ?? ''), body);
    } catch (error) {
      return odataError(400, '', (error as Error).message);
    }
    const count = items.reduce((n, item) => n + ('changeset' in item ? item.changeset.length : 1), 0);
    if (count > MAX_BATCH_REQUESTS) return odataError(400, '', `The batch holds ${count} requests; at most ${MAX_BATCH_REQUESTS} are allowed.`);
    const continueOnError = /(?:^|[,\s])odata\.continue-on-error(?:=true)?(?:[,;\s]|$)/i.test(String(req.headers.prefer ?? ''));
    const throttlePart = partThrottle();
    const out: FakeResponseItem[] = [];
    let failed = false;
    for (const item of items) {
      if ('changeset' in item) {
        const staged = stage();
        const answers: FakeResponsePart[] = [];
        let failure: FakeResponsePart | undefined;
        for (const request of item.changeset) {
          const answer = toPart(execute(request, staged), request.contentId);
          if (answer.status >= 400) {
            failure = answer;
            break;
          }
          answers.push(answer);
        }
        if (failure) {
          out.push(failure);
          failed = true;
        } else {
          staged.commit();
          out.push({ changeset: answers });
        }
      } else {
        let answer: HttpAnswer;
        if (throttlePart(item.request)) {
          const seen = throttle.retryAfterOf ? upsertSeen(item.request) : undefined;
          answer = throttled(seen && throttle.retryAfterOf ? throttle.retryAfterOf(seen) : throttle.retryAfter);
        } else {
          answer = execute(item.request, 'commit');
        }
        const part = toPart(answer, item.request.contentId);
        out.push(part);
        if (part.status >= 400) failed = true;
      }
      if (failed && !continueOnError) break;
    }
    const boundary = `batchresponse_${randomUUID()}`;
    const headers: [string, string][] = [
      ['Content-Type', `multipart/mixed; boundary=${boundary}`],
      ['OData-Version', '4.0'],
    ];
    if (continueOnError) headers.push(['Preference-Applied', 'odata.continue-on-error']);
    return new HttpAnswer(failed && !continueOnError ? 400 : 200, headers, encodeBatchResponse(out, boundary));
  }

  /** Which upserts of this batch answer 429: none, the first, or those `parts` picks (throttleNext's `inBatch`). */
  function partThrottle(): (request: ParsedBatchRequest) => boolean {
    if (throttle.remaining <= 0 || !throttle.inBatch) return () => false;
    throttle.remaining--;
    const picks = throttle.parts;
    let first = true;
    return (request) => {
      if (request.method !== 'PATCH') return false;
      if (picks) {
        const seen = upsertSeen(request);
        return seen !== undefined && picks(seen);
      }
      const hit = first;
      first = false;
      return hit;
    };
  }

  /** What a refusal or throttle predicate sees of a batch's upsert; undefined when it is none. */
  function upsertSeen(request: ParsedBatchRequest): UpsertSeen | undefined {
    const path = pathOf(request.url);
    const address = path?.startsWith(API_PREFIX) ? parseKeyAddress(path.slice(API_PREFIX.length)) : undefined;
    if (!address) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return undefined;
    }
    return body && typeof body === 'object' && !Array.isArray(body) ? { entitySet: address.entitySet, key: address.keyValue, body: body as Record<string, unknown> } : undefined;
  }

  /** A change set's writes go to a copy of the tables, kept only when every request succeeded. */
  function stage(): Staged {
    const copy = new Map<string, Map<string, FakeRecord>>();
    for (const [name, rows] of tables) copy.set(name, new Map([...rows].map(([k, v]) => [k, { ...v, values: { ...v.values } }])));
    let createdHere = 0;
    return {
      tables: copy,
      created: () => createdHere++,
      commit: () => {
        tables.clear();
        for (const [name, rows] of copy) tables.set(name, rows);
        created += createdHere;
      },
    };
  }

  function execute(request: ParsedBatchRequest, target: Staged | 'commit'): HttpAnswer {
    const path = pathOf(request.url);
    if (path === undefined) return odataError(400, '', `The URL '${request.url}' is not on this environment.`);
    if (!path.startsWith(API_PREFIX)) return odataError(404, '', `No HTTP resource was found that matches the request URI '${request.url}'.`);
    const resource = path.slice(API_PREFIX.length);
    if (/^WhoAmI(?:\(\))?$/.test(resource)) {
      if (request.method !== 'GET') return odataError(405, '', 'The requested resource does not support http method.');
      return json(200, { '@odata.context': `${origin}${API_PREFIX}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`, ...identity });
    }
    const collection = /^([A-Za-z_][A-Za-z0-9_]*)(?:\?(.*))?$/.exec(resource);
    if (collection && request.method === 'GET') return readCollection(collection[1], new URLSearchParams(collection[2] ?? ''));
    const address = parseKeyAddress(resource);
    if (!address) return odataError(404, '', `Resource not found for the segment '${resource}'.`);
    const unaddressable = UNADDRESSABLE_KEY_CHARACTER.exec(address.keyValue);
    if (unaddressable) return odataError(400, '', `A potentially dangerous Request.Path value was detected from the client (${unaddressable[0]}).`);
    const expectedKey = options.entitySets ? options.entitySets[address.entitySet] : undefined;
    if (options.entitySets && expectedKey === undefined) return unknownSegment(address.entitySet);
    if (expectedKey !== undefined && expectedKey !== address.keyName) {
      const type = entityTypeOf(address.entitySet);
      return odataError(
        400,
        INVALID_KEY_CODE,
        `The key in the request URI is not valid for resource '${type}'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource '${type}'.`,
      );
    }
    const tablesNow = target === 'commit' ? tables : target.tables;
    const table = tablesNow.get(address.entitySet) ?? new Map<string, FakeRecord>();
    const existing = table.get(address.keyValue);
    const entityId = `${origin}${API_PREFIX}${address.raw}`;
    if (request.method === 'GET') {
      if (!existing) return odataError(404, '', `${address.entitySet} With Ids = ${address.keyValue} Does Not Exist`);
      return json(200, { ...existing.values, [`${address.entitySet}id`]: existing.id });
    }
    if (request.method !== 'PATCH') return odataError(405, '', 'The requested resource does not support http method.');
    let values: unknown;
    try {
      values = JSON.parse(request.body);
    } catch {
      return odataError(400, '', 'The request body is not valid JSON.');
    }
    if (!values || typeof values !== 'object' || Array.isArray(values)) return odataError(400, '', 'The request body must be a JSON object.');
    const body = values as Record<string, unknown>;
    const payloadError = payloadRefusal(body, options.lookups?.[address.entitySet] ?? {}, options.columns?.[address.entitySet], entityTypeOf(address.entitySet));
    if (payloadError) return odataError(400, PAYLOAD_ERROR_CODE, payloadErrorMessage(address.entitySet, payloadError));
    if (refusal?.predicate({ entitySet: address.entitySet, key: address.keyValue, body })) return odataError(refusal.status, refusal.code, refusal.message);
    const ifMatch = request.headers['if-match'];
    const ifNoneMatch = request.headers['if-none-match'];
    if (ifMatch === '*' && !existing) return odataError(404, '', `${address.entitySet} With Ids = ${address.keyValue} Does Not Exist`);
    if (ifNoneMatch === '*' && existing) return odataError(412, '', 'A record with matching key values already exists.');
    // Stored as Dataverse reads a lookup back: `_<property>_value` holds the id.
    for (const [key, value] of Object.entries(body)) {
      if (!key.endsWith(BIND)) continue;
      delete body[key];
      body[`_${key.slice(0, -BIND.length).toLowerCase()}_value`] = /\(([^)]+)\)$/.exec(String(value))?.[1];
    }
    if (existing) {
      const update = { ...body };
      delete update[address.keyName];
      Object.assign(existing.values, update);
      existing.writes++;
    } else {
      table.set(address.keyValue, { id: randomUUID(), key: address.keyValue, values: { [address.keyName]: address.keyValue, ...body }, writes: 1 });
      if (target === 'commit') created++;
      else target.created();
    }
    tablesNow.set(address.entitySet, table);
    return new HttpAnswer(
      204,
      [
        ['OData-Version', '4.0'],
        ['OData-EntityId', entityId],
      ],
      '',
    );
  }

  function entityTypeOf(entitySet: string): string {
    return `Microsoft.Dynamics.CRM.${logicalNameOf(entitySet)}`;
  }

  function logicalNameOf(entitySet: string): string {
    return options.logicalNames?.[entitySet] ?? entitySet;
  }

  function unknownSegment(segment: string): HttpAnswer {
    return odataError(404, SEGMENT_NOT_FOUND_CODE, `Resource not found for the segment '${segment}'.`);
  }

  /**
   * GET {entityset}?$select=…&$top=n: the first n records, the selected columns and the primary
   * key. An unknown entity set is 404; a selected property the type does not declare is 400 (the
   * declared ones: the entity set's `columns` and its alternate key column; without `columns`, any).
   */
  function readCollection(entitySet: string, query: URLSearchParams): HttpAnswer {
    const alternateKey = options.entitySets ? options.entitySets[entitySet] : undefined;
    if (options.entitySets && alternateKey === undefined) return unknownSegment(entitySet);
    const columns = options.columns?.[entitySet];
    const primaryKey = `${logicalNameOf(entitySet)}id`;
    const select = (query.get('$select') ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    for (const name of select) {
      const declared = !columns || Object.hasOwn(columns, name) || name === alternateKey || name === primaryKey;
      if (!declared) return odataError(400, '0x0', `Could not find a property named '${name}' on type '${entityTypeOf(entitySet)}'.`);
    }
    const topText = query.get('$top');
    if (topText !== null && !/^\d+$/.test(topText)) return odataError(400, '0x0', `Invalid value '${topText}' for $top query option found.`);
    const records = [...(tables.get(entitySet)?.values() ?? [])].slice(0, topText === null ? undefined : Number(topText));
    const value = records.map((record) => {
      const row: Record<string, unknown> = { '@odata.etag': `W/"${record.writes}"` };
      for (const [name, v] of Object.entries(record.values)) if (select.length === 0 || select.includes(name)) row[name] = v;
      row[primaryKey] = record.id;
      return row;
    });
    return json(200, { '@odata.context': `${origin}${API_PREFIX}$metadata#${entitySet}(${select.join(',')})`, value });
  }

  function throttled(retryAfter: number): HttpAnswer {
    const answer = odataError(429, throttle.code, THROTTLE_MESSAGES[throttle.code] ?? 'Too many requests.');
    return new HttpAnswer(429, [...answer.headers, ['Retry-After', String(retryAfter)]], answer.body);
  }

  /** The request URL's path when it is on this environment (absolute) or a path. */
  function pathOf(url: string): string | undefined {
    if (url.startsWith('/')) return url;
    try {
      const parsed = new URL(url);
      return parsed.origin === origin ? `${parsed.pathname}${parsed.search}` : undefined;
    } catch {
      return undefined;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const tableOf = (entitySet: string) => [...(tables.get(entitySet)?.values() ?? [])].map((r) => ({ ...r, values: { ...r.values } }));
  return {
    url: origin,
    authorityUrl: origin,
    ca: cert,
    caFile,
    get requests() {
      return requests;
    },
    get tokenRequests() {
      return requests.filter((r) => r.kind === 'token');
    },
    get apiRequests() {
      return requests.filter((r) => r.kind === 'api');
    },
    table: tableOf,
    get createdCount() {
      return created;
    },
    setExpiresIn: (seconds) => void (expiresIn = seconds),
    rejectCredentials: (on = true) => void (rejecting = on),
    revokeTokens: () => tokens.clear(),
    throttleNext: (n, retryAfterSeconds, opts = {}) =>
      void (throttle = {
        remaining: n,
        retryAfter: retryAfterSeconds,
        inBatch: !!opts.inBatch,
        code: opts.code ?? '0x80072322',
        parts: opts.parts,
        retryAfterOf: opts.retryAfterOf,
      }),
    refuseRows: (predicate, message, opts = {}) => void (refusal = { predicate, message, code: opts.code ?? '0x80044331', status: opts.status ?? 400 }),
    loseAnswerNext: (n) => void (lose = n),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Staged {
  tables: Map<string, Map<string, FakeRecord>>;
  created: () => void;
  commit: () => void;
}

/** `entityset(key='value')` (or a bare value), percent-decoded then OData-unquoted. */
export function parseKeyAddress(resource: string): { entitySet: string; keyName: string; keyValue: string; raw: string } | undefined {
  const open = resource.indexOf('(');
  if (open <= 0 || !resource.endsWith(')')) return undefined;
  const entitySet = resource.slice(0, open);
  let inner: string;
  try {
    inner = decodeURIComponent(resource.slice(open + 1, -1));
  } catch {
    return undefined;
  }
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(?:'((?:[^']|'')*)'|([^',]+))$/.exec(inner);
  if (!match) return undefined;
  const keyValue = match[2] !== undefined ? match[2].replace(/''/g, "'") : (match[3] as string);
  return { entitySet, keyName: match[1], keyValue, raw: resource };
}

/**
 * A `$batch` request body: line by line (CRLF or LF), boundary from the Content-Type, change
 * sets one level deep. Kept apart from the connector's parser on purpose.
 */
export function parseBatchRequest(contentType: string, body: string): ParsedBatchItem[] {
  const boundary = boundaryParam(contentType);
  if (!/^multipart\/mixed\s*(;|$)/i.test(contentType.trim()) || !boundary) throw new Error('The batch request must be multipart/mixed with a boundary.');
  return multipartLines(body, boundary).map((lines) => {
    const { headers, rest } = headerBlock(lines);
    const partType = headers['content-type'] ?? '';
    if (/^multipart\/mixed/i.test(partType)) {
      const inner = boundaryParam(partType);
      if (!inner) throw new Error('A change set names no boundary.');
      return {
        changeset: multipartLines(rest.join('\n'), inner).map((member) => {
          const part = headerBlock(member);
          if (!/^application\/http/i.test(part.headers['content-type'] ?? '')) throw new Error('A change set member must be application/http.');
          if (part.headers['content-id'] === undefined) throw new Error('A change set member must have a Content-ID.');
          return httpRequest(part.rest, part.headers['content-id']);
        }),
      };
    }
    if (!/^application\/http/i.test(partType)) throw new Error('A batch part must be application/http or a change set.');
    if (!/^binary$/i.test(headers['content-transfer-encoding'] ?? '')) throw new Error('A batch part must be Content-Transfer-Encoding: binary.');
    return { request: httpRequest(rest, headers['content-id']) };
  });
}

function httpRequest(lines: string[], contentId: string | undefined): ParsedBatchRequest {
  const requestLine = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(lines[0] ?? '');
  if (!requestLine) throw new Error(`Not an HTTP request line: '${lines[0] ?? ''}'.`);
  if (/\/\$batch(?:\?|$)/.test(requestLine[2])) throw new Error('A batch may not contain another batch.');
  const { headers, rest } = headerBlock(lines.slice(1));
  const request: ParsedBatchRequest = { method: requestLine[1], url: requestLine[2], headers, body: rest.join('\r\n') };
  if (contentId !== undefined) request.contentId = contentId;
  return request;
}

function multipartLines(body: string, boundary: string): string[][] {
  const parts: string[][] = [];
  let current: string[] | undefined;
  for (const line of body.split(/\r?\n/)) {
    const trimmed = line.replace(/[ \t]+$/, '');
    if (trimmed === `--${boundary}--`) {
      if (current) parts.push(current);
      return parts;
    }
    if (trimmed === `--${boundary}`) {
      if (current) parts.push(current);
      current = [];
    } else if (current) {
      current.push(line);
    }
  }
  throw new Error('The multipart body has no closing delimiter.');
}

function headerBlock(lines: string[]): { headers: Record<string, string>; rest: string[] } {
  const headers: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) throw new Error(`Not a header: '${lines[i]}'.`);
    headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
  }
  return { headers, rest: lines.slice(i + 1) };
}

function boundaryParam(contentType: string): string | undefined {
  const match = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** A batch answer in Microsoft's layout, CRLF line ends. */
export function encodeBatchResponse(items: FakeResponseItem[], boundary: string): string {
  const lines: string[] = [];
  for (const item of items) {
    lines.push(`--${boundary}`);
    if ('changeset' in item) {
      const inner = `changesetresponse_${randomUUID()}`;
      lines.push(`Content-Type: multipart/mixed; boundary=${inner}`, '');
      for (const part of item.changeset) lines.push(`--${inner}`, ...encodePart(part));
      lines.push(`--${inner}--`);
    } else {
      lines.push(...encodePart(item));
    }
  }
  lines.push(`--${boundary}--`, '');
  return lines.join('\r\n');
}

function encodePart(part: FakeResponsePart): string[] {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (part.contentId !== undefined) lines.push(`Content-ID: ${part.contentId}`);
  lines.push('', `HTTP/1.1 ${part.status} ${STATUS_CODES[part.status] ?? 'Unknown'}`);
  for (const [name, value] of part.headers ?? []) lines.push(`${name}: ${value}`);
  lines.push('', part.body ?? '');
  return lines;
}

function toPart(answer: HttpAnswer, contentId: string | undefined): FakeResponsePart {
  const part: FakeResponsePart = { status: answer.status, headers: answer.headers, body: answer.body };
  if (contentId !== undefined) part.contentId = contentId;
  return part;
}

/** What a key's value may not hold for GET or PATCH by that key to work (Microsoft's list). */
const UNADDRESSABLE_KEY_CHARACTER = /[/#<>*%&:\\?+]/;

function odataError(status: number, code: string, message: string): HttpAnswer {
  return new HttpAnswer(
    status,
    [
      ['Content-Type', 'application/json; odata.metadata=minimal'],
      ['OData-Version', '4.0'],
    ],
    JSON.stringify({ error: { code, message } }),
  );
}

function tokenError(status: number, error: string, code: number, description: string): HttpAnswer {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return json(status, {
    error,
    error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

function json(status: number, value: unknown): HttpAnswer {
  return new HttpAnswer(status, [['Content-Type', 'application/json; charset=utf-8']], JSON.stringify(value));
}

function send(res: ServerResponse, answer: HttpAnswer): void {
  res.statusCode = answer.status;
  for (const [name, value] of answer.headers) res.setHeader(name, value);
  res.end(answer.body);
}

function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const BIND = '@odata.bind';
const GUID_TEXT = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/** Dataverse's code for a body its OData reader refused (Microsoft's troubleshooting page). */
const PAYLOAD_ERROR_CODE = '0x80048d19';

/** Dataverse's wrapper around the reader's exception (`inner`: `<exception type>: <message>[ ---> <cause>]`). */
function payloadErrorMessage(entitySet: string, inner: string): string {
  return `Error identified in Payload provided by the user for Entity :'${entitySet}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : ${inner}`;
}

/**
 * The reader's exception for the first property of the body it cannot take, in body order;
 * undefined when it takes them all. Lookups always; the other properties only when the entity
 * set's columns are given.
 */
function payloadRefusal(
  body: Record<string, unknown>,
  lookups: Record<string, string>,
  columns: Record<string, DataverseColumnType> | undefined,
  entityType: string,
): string | undefined {
  for (const [key, value] of Object.entries(body)) {
    const lookupError = lookupRefusal(lookups, key, value);
    if (lookupError) return `Microsoft.OData.ODataException: ${lookupError}`;
    // Annotations (a lookup's binding among them) and lookups are no columns.
    if (!columns || key.includes('@') || Object.hasOwn(lookups, key)) continue;
    const type = Object.hasOwn(columns, key) ? columns[key] : undefined;
    if (type === undefined) {
      return `Microsoft.Crm.CrmException: Invalid property '${key}' was found in entity '${entityType}'. ---> Microsoft.OData.ODataException: The property '${key}' does not exist on type '${entityType}'. Make sure to only use property names that are defined by the type.`;
    }
    const valueError = readValue(type, value);
    if (valueError) return valueError;
  }
  return undefined;
}

const EDM_TYPES: Record<DataverseColumnType, string> = {
  string: 'Edm.String',
  integer: 'Edm.Int32',
  decimal: 'Edm.Decimal',
  money: 'Edm.Decimal',
  boolean: 'Edm.Boolean',
  date: 'Edm.Date',
};
const FORMAT_EXCEPTION = 'System.FormatException: Input string was not in a correct format.';
// .NET's Int32.Parse (NumberStyles.Integer) and Decimal.Parse (NumberStyles.Number: thousands separators allowed), invariant culture.
const INT32_TEXT = /^\s*[+-]?\d+\s*$/;
const DECIMAL_TEXT = /^\s*(?:[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)|(?:\d[\d,]*(?:\.\d*)?|\.\d+)[+-])\s*$/;
// ODataLib's PlatformHelper.DateValidator, then a real calendar day.
const EDM_DATE_TEXT = /^(\d{4})-(0?[1-9]|1[012])-(0?[1-9]|[12]\d|3[01])$/;

/**
 * What ODataLib's ODataPayloadValueConverter.ConvertFromPayloadValue makes of a JSON value for a
 * column of `type`: undefined when it reads it, else the exception Dataverse reports. A JSON
 * string is converted as .NET converts text (Convert.ChangeType, invariant culture; Edm.Date by
 * PlatformHelper.ConvertStringToDate); a JSON number (an integer in Int32's range is read as
 * Edm.Int32, any other as Edm.Decimal) or boolean only to a numeric or the Boolean type. A failure
 * is `Cannot convert the literal '<value>' to the expected type '<Edm type>'.`, with the .NET
 * cause where its words are known. Chosen here: the words for an object or array value.
 */
function readValue(type: DataverseColumnType, value: unknown): string | undefined {
  if (value === null) return undefined;
  const edmType = EDM_TYPES[type];
  const cannot = (literal: string, cause?: string) =>
    `Microsoft.OData.ODataException: Cannot convert the literal '${literal}' to the expected type '${edmType}'.${cause ? ` ---> ${cause}` : ''}`;
  if (typeof value === 'object') {
    return `Microsoft.OData.ODataException: An unexpected '${Array.isArray(value) ? 'StartArray' : 'StartObject'}' node was found when reading from the JSON reader. A 'PrimitiveValue' node was expected.`;
  }
  if (typeof value === 'boolean') return type === 'boolean' ? undefined : cannot(value ? 'True' : 'False');
  if (typeof value === 'number') {
    const int32 = Number.isInteger(value) && value >= -2_147_483_648 && value <= 2_147_483_647;
    return type === 'decimal' || type === 'money' || (type === 'integer' && int32) ? undefined : cannot(String(value));
  }
  const text = String(value);
  switch (type) {
    case 'string':
      return undefined;
    case 'integer': {
      if (!INT32_TEXT.test(text)) return cannot(text, FORMAT_EXCEPTION);
      const n = Number(text.trim());
      return n >= -2_147_483_648 && n <= 2_147_483_647 ? undefined : cannot(text, 'System.OverflowException: Value was either too large or too small for an Int32.');
    }
    case 'decimal':
    case 'money':
      return DECIMAL_TEXT.test(text) ? undefined : cannot(text, FORMAT_EXCEPTION);
    case 'boolean':
      return /^\s*(true|false)\s*$/i.test(text) ? undefined : cannot(text, 'System.FormatException: String was not recognized as a valid Boolean.');
    case 'date': {
      const match = EDM_DATE_TEXT.exec(text);
      const day = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : undefined;
      const real = !!match && !!day && day.getUTCFullYear() === Number(match[1]) && day.getUTCMonth() === Number(match[2]) - 1 && day.getUTCDate() === Number(match[3]);
      return real ? undefined : cannot(text, `System.FormatException: String '${text}' was not recognized as a valid Edm.Date.`);
    }
  }
}

/** What Dataverse's OData reader says of one property of a body when it sets a lookup any other way than by binding it; undefined when it is fine. */
function lookupRefusal(lookups: Record<string, string>, key: string, value: unknown): string | undefined {
  if (Object.hasOwn(lookups, key) && value !== null) {
    // OData's own wording for a primitive where a navigation property is.
    return "A 'PrimitiveValue' node with non-null value was found when trying to read the value of a navigation property; however, a 'StartArray' node, a 'StartObject' node, or a 'PrimitiveValue' node with null value was expected.";
  }
  if (!key.endsWith(BIND)) return undefined;
  const property = key.slice(0, -BIND.length);
  const target = Object.hasOwn(lookups, property) ? lookups[property] : undefined;
  if (target === undefined) {
    return `An undeclared property '${property}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.`;
  }
  if (typeof value !== 'string' || !new RegExp(`^/${target}\\(${GUID_TEXT}\\)$`).test(value)) {
    return `The value of the annotation '${key}' is not a valid entity reference: expected '/${target}(<guid>)'.`;
  }
  return undefined;
}
