// Delivery to Microsoft Dynamics 365 / Dataverse (`dynamics`, and `hlf_portal`, a Dynamics 365
// portal): a client-credentials token from the Microsoft identity platform, then each batch of
// rows as one `$batch` of upserts by alternate key, so a repeated attempt never creates a record
// twice. API.md "What goes on the wire". Pure: no Nest imports.
import { jsonWithPlainNumbers } from '../../common/plain-decimal';
import { EgressRefused, OutboundError, type Outbound, type OutboundRequest, type OutboundResponse } from '../../egress/outbound-http';
import { headerValue, retryAfterSeconds } from '../../egress/retry-after';
import { scrubSyncError } from '../../integration-config/sync-error';
import { DeliveryFailure, DeliveryStopped, requestGate, type Connector, type ConnectorContext, type DeliveryRow, type RowOutcome } from '../../sync/connector';
import { BatchFormatError, buildBatchRequest, encodeKeySegment, isMultipartMixed, odataStringLiteral, parseBatchResponse, type BatchResponsePart } from './odata-batch';
import { TokenCache, type IssuedToken, type TokenIdentity } from './token-cache';
import { DATAVERSE_IDENTIFIER, dataverseKeyValue, RENAMEABLE_FIELDS, TENANT } from './dataverse-names';

export type DynamicsIntegrationType = 'dynamics' | 'hlf_portal';

export interface DynamicsConnectorOptions {
  /** DYNAMICS_AUTHORITY_URL: the Microsoft identity platform base, e.g. https://login.microsoftonline.com. */
  authorityUrl: string;
  /** The clock the token cache reads (specs). */
  now?: () => number;
}

const API_PATH = '/api/data/v9.2';
// A 1,000-request answer (Dataverse's own limit per $batch) with error texts stays well under this.
const MAX_BATCH_ANSWER_BYTES = 32 * 1024 * 1024;
// Upserts per $batch: Dataverse allows 1,000 but runs a batch's requests one after another (tens
// of ms each on an entity with plug-ins), so a full batch can outlast the 30 s request timeout on
// every attempt and never complete; Microsoft advises small batches (CONNECTORS.md).
export const DATAVERSE_BATCH_SIZE = 100;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ODATA_HEADERS = { Accept: 'application/json', 'OData-MaxVersion': '4.0', 'OData-Version': '4.0' };

/** A config's settings, resolved and checked once per call. */
interface Settings {
  configId: string;
  baseUrl: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  entitySet: string;
  alternateKey: string;
  columns: Partial<Record<(typeof RENAMEABLE_FIELDS)[number], string>>;
  /** Before each request (requestGate): a token request, then the batch, ask the engine in between. */
  gate: () => Promise<void>;
}

export class DynamicsConnector implements Connector {
  readonly maxBatchSize = DATAVERSE_BATCH_SIZE;
  private readonly authorityUrl: string;
  private readonly tokens: TokenCache;

  constructor(
    readonly integrationType: DynamicsIntegrationType,
    private readonly http: Outbound,
    options: DynamicsConnectorOptions,
  ) {
    this.authorityUrl = trimSlashes(options.authorityUrl);
    this.tokens = new TokenCache({ now: options.now });
  }

  async deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    if (rows.length === 0) return [];
    const settings = this.settings(context, true);
    const outcomes = new Map<number, RowOutcome>();
    // A row Dataverse could only refuse is failed here, without a request.
    const sendable: DeliveryRow[] = [];
    for (const row of rows) {
      const refusal = dataverseRowRefusal(row.output);
      if (refusal !== null) outcomes.set(row.index, { index: row.index, status: 'failed', error: refusal });
      else sendable.push(row);
    }
    try {
      for (let start = 0; start < sendable.length; start += DATAVERSE_BATCH_SIZE) {
        let pending = sendable.slice(start, start + DATAVERSE_BATCH_SIZE);
        while (pending.length > 0) {
          const answered = await this.sendBatch(settings, pending);
          for (const outcome of answered) outcomes.set(outcome.index, outcome);
          // Without continue-on-error Dataverse stops at a refused request: the rest go again.
          pending = pending.slice(answered.length);
        }
      }
    } catch (error) {
      // Stopped before a request (disabled meanwhile): the rows already answered keep their outcome.
      if (error instanceof DeliveryStopped) error.answered = [...outcomes.values()];
      // Rows settled before the failure (here, in an earlier batch, or in the failed batch's other parts) are not sent again.
      if (!(error instanceof DeliveryFailure) || outcomes.size === 0) throw error;
      for (const outcome of error.answered) outcomes.set(outcome.index, outcome);
      throw new DeliveryFailure(error.kind, error.message, error.retryAfterSeconds, [...outcomes.values()]);
    }
    return rows.map((row) => outcomes.get(row.index) as RowOutcome);
  }

  /** What deliver() fails without a request (dataverseRowRefusal). */
  refusalOf(output: Record<string, unknown>): string | null {
    return dataverseRowRefusal(output);
  }

  /**
   * A new token (the credentials as they are now, not a cached token), then one read-only call:
   * the config's table, `GET {entity_set}?$select={alternate_key}&$top=1`, so a mistyped entity set
   * or key column shows here rather than in every row's delivery; WhoAmI while the config names no
   * table yet.
   */
  async testConnection(context: ConnectorContext): Promise<void> {
    const extra = context.config.extra_config ?? {};
    // Both names given: checked as deliveries check them, then read with.
    const table = !!extra['entity_set'] && !!extra['alternate_key'];
    const settings = this.settings(context, table);
    const token = await this.tokens.refresh(this.identityOf(settings), () => this.requestToken(settings));
    if (!table) {
      const response = await this.send(settings, token, {
        url: `${settings.baseUrl}${API_PATH}/WhoAmI`,
        method: 'GET',
        headers: { ...ODATA_HEADERS, Authorization: `Bearer ${token}` },
      });
      this.failOnWholeRequest(settings, token, response, 'WhoAmI');
      const answer = parseJson(response.body) as { UserId?: unknown } | undefined;
      if (response.status !== 200 || typeof answer?.UserId !== 'string') {
        throw this.failure(settings, token, 'retryable', `Dataverse answered WhoAmI with HTTP ${response.status}${odataErrorSuffix(response.body)}`);
      }
      return;
    }
    const what = `the read of ${settings.entitySet}`;
    const response = await this.send(settings, token, {
      url: `${settings.baseUrl}${API_PATH}/${settings.entitySet}?$select=${settings.alternateKey}&$top=1`,
      method: 'GET',
      headers: { ...ODATA_HEADERS, Authorization: `Bearer ${token}` },
    });
    if (response.status === 403 && odataError(response.body)?.code?.toLowerCase() === MISSING_PRIVILEGE) {
      // The credentials were taken: the application user's role lacks Read on this table, in Dataverse's words.
      throw this.failure(settings, token, 'retryable', `Dataverse refused ${what}: the application user lacks a privilege (HTTP 403${odataErrorSuffix(response.body)})`);
    }
    this.failOnWholeRequest(settings, token, response, what);
    const misnamed = configurationError(settings, { status: response.status, headers: {}, body: response.body.toString('utf8') }, 'read');
    if (misnamed) throw this.failure(settings, token, 'retryable', `${misnamed}; Dataverse answered ${what} with HTTP ${response.status}${odataErrorSuffix(response.body)}`);
    const answer = parseJson(response.body) as { value?: unknown } | undefined;
    if (response.status !== 200 || !Array.isArray(answer?.value)) {
      throw this.failure(settings, token, 'retryable', `Dataverse answered ${what} with HTTP ${response.status}${odataErrorSuffix(response.body)}`);
    }
  }

  /** One $batch of upserts: the outcomes of the rows answered, in order (at least one). */
  private async sendBatch(settings: Settings, rows: DeliveryRow[], freshToken = false): Promise<RowOutcome[]> {
    const token = await this.token(settings);
    const { contentType, body } = buildBatchRequest(
      rows.map((row) => ({
        method: 'PATCH',
        url: this.upsertUrl(settings, row.reference),
        headers: { 'Content-Type': 'application/json' },
        // Numbers in plain decimal form: JSON.stringify writes 1e-7, which Dataverse's OData reader has refused for an Edm.Decimal column.
        body: jsonWithPlainNumbers(this.columnsOf(settings, row.output)),
      })),
    );
    const response = await this.send(settings, token, {
      url: `${settings.baseUrl}${API_PATH}/$batch`,
      method: 'POST',
      headers: { ...ODATA_HEADERS, Authorization: `Bearer ${token}`, 'Content-Type': contentType, Prefer: 'odata.continue-on-error' },
      body,
      maxResponseBytes: MAX_BATCH_ANSWER_BYTES,
    });
    if (response.status === 401 && !freshToken) {
      // The cached token may have been revoked before its expiry (a reset app, a rotated secret):
      // one more try with a new one before blaming the credentials. A 401 carried nothing out.
      this.tokens.drop(settings.configId);
      return this.sendBatch(settings, rows, true);
    }
    this.failOnWholeRequest(settings, token, response, 'the batch');
    const answerType = headerValue(response.headers, 'content-type');
    if (!isMultipartMixed(answerType)) {
      throw this.failure(settings, token, 'retryable', `Dataverse answered the batch with HTTP ${response.status}${odataErrorSuffix(response.body)}`);
    }
    let parts: BatchResponsePart[];
    try {
      parts = parseBatchResponse(answerType as string, response.body);
    } catch (error) {
      if (!(error instanceof BatchFormatError)) throw error;
      throw this.failure(settings, token, 'retryable', `Dataverse's batch answer could not be read: ${error.message}`);
    }
    if (parts.length === 0 || parts.length > rows.length) {
      throw this.failure(settings, token, 'retryable', `Dataverse answered ${parts.length} of ${rows.length} requests of the batch`);
    }
    // Every part refused (401/403): the credentials, not the rows.
    if (parts.every((part) => part.status === 401 || part.status === 403)) {
      this.tokens.drop(settings.configId);
      throw this.failure(settings, token, 'credentials_rejected', 'Dataverse refused the credentials (HTTP 401/403 in the batch)');
    }
    // With continue-on-error the other parts were carried out: their outcomes are kept, only the
    // rows of a 401 (the token) or a 429/5xx part (throttled, the server's side) go again. A 403
    // among answered parts is a missing privilege on that record: the row is refused.
    const tokenRefused = parts.filter((part) => part.status === 401);
    const transient = parts.filter(isTransient);
    // Each throttled part may name its own wait: the batch goes again after the longest.
    const after = transient.length
      ? longest([...transient.map((part) => retryAfterSeconds(part.headers['retry-after'])), retryAfterSeconds(headerValue(response.headers, 'retry-after'))])
      : undefined;
    // Every part Dataverse settled refused for the same name the config gives (a mistyped entity set
    // or alternate key): the config, not the rows. No row gets an outcome: retried, the rows
    // pending, until an admin corrects it. One such part among successes stays that row's refusal.
    const settled = parts.filter((part) => part.status !== 401 && !isTransient(part));
    const misnamed = settled.length > 0 ? configurationError(settings, settled[0], 'upsert') : undefined;
    if (misnamed && settled.every((part) => configurationError(settings, part, 'upsert') === misnamed)) {
      const count = settled.length === parts.length ? `all ${parts.length}` : `${settled.length} of ${parts.length}`;
      const message = `${misnamed}; Dataverse answered HTTP ${settled[0].status} for ${count} requests of the batch${odataErrorSuffix(settled[0].body)}`;
      if (tokenRefused.length > 0) this.tokens.drop(settings.configId);
      throw this.failure(settings, token, 'retryable', message, after);
    }
    // A refusal may quote what it was sent: the token is scrubbed here, where it is known (the engine knows only the stored secrets).
    const answered = parts.flatMap((part, i): RowOutcome[] => {
      if (part.status === 401 || isTransient(part)) return [];
      const outcome = outcomeOf(rows[i].index, part);
      return [outcome.status === 'failed' ? { ...outcome, error: scrubSyncError(outcome.error, [settings.clientSecret, token]) } : outcome];
    });
    if (tokenRefused.length > 0) {
      this.tokens.drop(settings.configId);
      throw this.failure(
        settings,
        token,
        'credentials_rejected',
        `Dataverse refused the token for ${tokenRefused.length} of ${parts.length} requests of the batch (HTTP 401)`,
        after,
        answered,
      );
    }
    if (transient.length > 0) {
      const first = transient[0];
      const message = `Dataverse answered HTTP ${first.status} for ${transient.length} of ${parts.length} requests of the batch${odataErrorSuffix(first.body)}`;
      throw this.failure(settings, token, 'retryable', message, after, answered);
    }
    return answered;
  }

  /** Whole-request answers that no row is to blame for: credentials, throttling, server errors. */
  private failOnWholeRequest(settings: Settings, token: string, response: OutboundResponse, what: string): void {
    if (response.status === 401 || response.status === 403) {
      this.tokens.drop(settings.configId);
      throw this.failure(settings, token, 'credentials_rejected', `Dataverse refused the credentials for ${what} (HTTP ${response.status})`);
    }
    if (response.status === 429 || response.status >= 500) {
      throw this.failure(
        settings,
        token,
        'retryable',
        `Dataverse answered ${what} with HTTP ${response.status}${odataErrorSuffix(response.body)}`,
        retryAfterSeconds(headerValue(response.headers, 'retry-after')),
      );
    }
  }

  private async token(settings: Settings): Promise<string> {
    return this.tokens.get(this.identityOf(settings), () => this.requestToken(settings));
  }

  private identityOf(settings: Settings): TokenIdentity {
    return {
      configId: settings.configId,
      tenant: settings.tenant,
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      authority: this.authorityUrl,
      scope: scopeOf(settings),
    };
  }

  /** The client-credentials grant (Microsoft identity platform v2.0 token endpoint). */
  private async requestToken(settings: Settings): Promise<IssuedToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: settings.clientId, client_secret: settings.clientSecret, scope: scopeOf(settings) });
    const response = await this.send(settings, undefined, {
      url: `${this.authorityUrl}/${settings.tenant}/oauth2/v2.0/token`,
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form.toString(),
    });
    const answer = parseJson(response.body) as { token_type?: unknown; expires_in?: unknown; access_token?: unknown; error?: unknown; error_codes?: unknown } | undefined;
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      // invalid_client (wrong or expired secret), unauthorized_client (unknown app), a tenant not found…
      throw this.failure(
        settings,
        undefined,
        'credentials_rejected',
        `The Microsoft identity platform refused the credentials (HTTP ${response.status}${tokenErrorSuffix(answer)})`,
      );
    }
    if (response.status !== 200) {
      throw this.failure(
        settings,
        undefined,
        'retryable',
        `The Microsoft identity platform answered HTTP ${response.status}`,
        retryAfterSeconds(headerValue(response.headers, 'retry-after')),
      );
    }
    const expiresIn = Number(answer?.expires_in);
    if (typeof answer?.access_token !== 'string' || !answer.access_token || String(answer.token_type).toLowerCase() !== 'bearer' || !Number.isFinite(expiresIn)) {
      throw this.failure(settings, undefined, 'retryable', 'The Microsoft identity platform answered without a bearer token');
    }
    return { accessToken: answer.access_token, expiresInSeconds: expiresIn };
  }

  /** One outbound request; transport failures become retryable DeliveryFailures (an egress refusal stays itself). */
  private async send(settings: Settings, token: string | undefined, request: OutboundRequest): Promise<OutboundResponse> {
    await settings.gate();
    try {
      return await this.http.request(request);
    } catch (error) {
      if (error instanceof EgressRefused) throw error;
      // The outbound client's words say where it failed: not sent, no whole answer in time, an answer broken off (the batch may then be applied).
      if (error instanceof OutboundError) throw this.failure(settings, token, 'retryable', `${error.message} (${error.code})`);
      throw error;
    }
  }

  /** A DeliveryFailure whose message holds neither the secret nor the token, in any encoding. */
  private failure(
    settings: Settings,
    token: string | undefined,
    kind: 'retryable' | 'credentials_rejected',
    message: string,
    retryAfter?: number,
    answered: RowOutcome[] = [],
  ): DeliveryFailure {
    return new DeliveryFailure(kind, scrubSyncError(message, [settings.clientSecret, token ?? null]), retryAfter, answered);
  }

  private upsertUrl(settings: Settings, reference: string): string {
    return `${settings.baseUrl}${API_PATH}/${settings.entitySet}(${settings.alternateKey}=${encodeKeySegment(odataStringLiteral(dataverseKeyValue(reference)))})`;
  }

  /**
   * The row's output as the entity's columns: ExpenseAmount/ExpenseDate/ContactId renamed when the
   * config says so. ContactId is a lookup: Dataverse takes it only as a binding of the navigation
   * property (`<name>@odata.bind: /contacts(<id>)`), never as a plain value.
   */
  private columnsOf(settings: Settings, output: Record<string, unknown>): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(output)) {
      const column = (settings.columns as Record<string, string | undefined>)[field] ?? field;
      // On create Dataverse takes a key column in the body over the key in the URL: a repeat would then create again.
      if (column === settings.alternateKey) continue;
      if (field === 'ContactId') {
        if (value !== null && value !== undefined) body[`${column}@odata.bind`] = `/contacts(${String(value).toLowerCase()})`;
        continue;
      }
      body[column] = value;
    }
    return body;
  }

  private settings(context: ConnectorContext, forRows: boolean): Settings {
    const { config, credentials } = context;
    const extra = config.extra_config ?? {};
    const missing = (what: string) => new DeliveryFailure('retryable', `The ${this.integrationType} config has no ${what}`);
    const baseUrl = trimSlashes(config.base_url ?? credentials.base_url ?? '');
    if (!baseUrl) throw missing('base_url');
    const tenant = this.integrationType === 'dynamics' ? credentials.tenant_id : typeof extra['tenant_id'] === 'string' ? extra['tenant_id'] : null;
    if (!tenant) throw missing(this.integrationType === 'dynamics' ? 'tenant_id' : 'extra_config.tenant_id');
    if (!TENANT.test(tenant)) throw new DeliveryFailure('retryable', 'The tenant id is not a tenant id or domain name');
    if (!credentials.client_id) throw missing('client_id');
    if (!credentials.client_secret) throw missing('client_secret');
    const entitySet = typeof extra['entity_set'] === 'string' ? extra['entity_set'] : '';
    const alternateKey = typeof extra['alternate_key'] === 'string' ? extra['alternate_key'] : '';
    if (forRows) {
      if (!entitySet) throw missing('extra_config.entity_set');
      if (!alternateKey) throw missing('extra_config.alternate_key');
      // They become part of the request URL: names only.
      if (!DATAVERSE_IDENTIFIER.test(entitySet) || !DATAVERSE_IDENTIFIER.test(alternateKey))
        throw new DeliveryFailure('retryable', 'extra_config.entity_set and alternate_key must be plain names');
    }
    const columns: Settings['columns'] = {};
    const given = extra['columns'];
    if (given && typeof given === 'object' && !Array.isArray(given)) {
      for (const field of RENAMEABLE_FIELDS) {
        const column = (given as Record<string, unknown>)[field];
        if (typeof column === 'string' && column) columns[field] = column;
      }
    }
    return {
      configId: config.id,
      baseUrl,
      tenant,
      clientId: credentials.client_id,
      clientSecret: credentials.client_secret,
      entitySet,
      alternateKey,
      columns,
      gate: requestGate(context.beforeRequest),
    };
  }
}

/**
 * Why a row is failed without a request, or null: a ContactId that is not a GUID, which Dataverse
 * could only refuse (a lookup binds a contact by its id). Its other values are Dataverse's to judge.
 */
function dataverseRowRefusal(output: Record<string, unknown>): string | null {
  const contact = output['ContactId'];
  if (contact === undefined || contact === null || (typeof contact === 'string' && GUID.test(contact))) return null;
  return 'ContactId must be the id (GUID) of a Dataverse contact';
}

/** Throttled or failed on the server's side: the row goes again. */
function isTransient(part: BatchResponsePart): boolean {
  return part.status === 429 || part.status >= 500;
}

/** The largest of the waits given, or undefined without one. */
function longest(seconds: (number | undefined)[]): number | undefined {
  const given = seconds.filter((value): value is number => value !== undefined);
  return given.length > 0 ? Math.max(...given) : undefined;
}

/** Dataverse's code for a resource (entity set) name it does not know (Microsoft's "Troubleshoot Dataverse Web API client errors"). */
const SEGMENT_NOT_FOUND = '0x8006088a';
/** "Principal user is missing privilege …", -2147220960 (Microsoft's "Troubleshoot Dataverse client errors"). */
const MISSING_PRIVILEGE = '0x80040220';

/**
 * What an answer says is wrong with a name the config gives, in the config's terms; undefined when
 * it is no such answer. An unknown entity set is 404 `0x8006088a` "Resource not found for the
 * segment '<name>'." (Microsoft's troubleshooting page); a key that is not the entity's alternate
 * key is "The key in the request URI is not valid for resource …" (Microsoft's alternate-key page;
 * 400); a column the entity lacks, in a read's $select, "Could not find a property named …" (400).
 */
function configurationError(settings: Settings, part: BatchResponsePart, request: 'upsert' | 'read'): string | undefined {
  const error = odataError(part.body);
  const message = error?.message ?? '';
  if (part.status === 404 && (error?.code?.toLowerCase() === SEGMENT_NOT_FOUND || /^Resource not found for the segment\b/i.test(message))) {
    // The segment it names, when it names one, must be the config's: a lookup's `@odata.bind` to a set it lacks is the row's.
    const segment = /segment '([^']*)'/i.exec(message)?.[1];
    if (segment !== undefined && segment !== settings.entitySet) return undefined;
    return `extra_config.entity_set '${settings.entitySet}' is not an entity set of this Dataverse environment (names are case-sensitive)`;
  }
  if (part.status !== 400) return undefined;
  if (request === 'upsert' && /^The key in the request URI is not valid\b/i.test(message)) {
    return `extra_config.alternate_key '${settings.alternateKey}' is not an alternate key of ${settings.entitySet}`;
  }
  if (request === 'read' && /^Could not find a property named\b/i.test(message)) {
    return `extra_config.alternate_key '${settings.alternateKey}' is not a column of ${settings.entitySet}`;
  }
  return undefined;
}

function outcomeOf(index: number, part: BatchResponsePart): RowOutcome {
  if (part.status >= 200 && part.status < 300) return { index, status: 'delivered', externalId: entityIdOf(part.headers['odata-entityid']) };
  const error = odataError(part.body);
  return { index, status: 'failed', error: error?.message || `Dataverse answered HTTP ${part.status}` };
}

/** What OData-EntityId names the record by, in parentheses: its id, or the alternate key an upsert used. */
export function entityIdOf(entityIdUrl: string | undefined): string | null {
  if (!entityIdUrl) return null;
  const match = /\/api\/data\/v[\d.]+\/[^/(]+\((.+)\)\s*$/.exec(entityIdUrl) ?? /\(([^()]+)\)\s*$/.exec(entityIdUrl);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

function scopeOf(settings: Settings): string {
  return `${settings.baseUrl}/.default`;
}

function parseJson(body: Buffer | string): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** `{ error: { code, message } }`, the Web API's error body. */
function odataError(body: Buffer | string): { code?: string; message?: string } | undefined {
  const parsed = parseJson(body) as { error?: { code?: unknown; message?: unknown } } | undefined;
  const error = parsed?.error;
  if (!error || typeof error !== 'object') return undefined;
  return { code: typeof error.code === 'string' ? error.code : undefined, message: typeof error.message === 'string' ? error.message : undefined };
}

function odataErrorSuffix(body: Buffer | string): string {
  const error = odataError(body);
  if (!error?.message && !error?.code) return '';
  return `: ${[error.code, error.message].filter(Boolean).join(' ')}`;
}

/** The token endpoint's error code and AADSTS number, never its description (it may quote the request). */
function tokenErrorSuffix(answer: { error?: unknown; error_codes?: unknown } | undefined): string {
  const parts: string[] = [];
  if (typeof answer?.error === 'string' && /^[a-z_]+$/.test(answer.error)) parts.push(answer.error);
  if (Array.isArray(answer?.error_codes) && Number.isInteger(answer.error_codes[0])) parts.push(`AADSTS${answer.error_codes[0]}`);
  return parts.length ? `, ${parts.join(' ')}` : '';
}

function trimSlashes(url: string): string {
  return url.trim().replace(/\/+$/, '');
}
