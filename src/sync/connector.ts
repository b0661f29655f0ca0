// What a connector implements to deliver rows to one kind of external system (Xledger,
// Dynamics 365, a host's own): the engine (DeliveryService) does the rest: queueing, one attempt
// per config at a time, retries, row states, sync runs. Pure: no Nest imports.
import { storableText } from '../common/json-body';
import { EgressRefused } from '../egress/outbound-http';
import type { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import type { IntegrationCredentials } from './sync.service';

/** One row to deliver: its position in the run, its stable reference and the mapped output. */
export interface DeliveryRow {
  index: number;
  /** `meander:<export_run_id>:<index>`: sent as the vendor's idempotency key, so a repeated attempt creates nothing twice. */
  reference: string;
  output: Record<string, unknown>;
}

export type RowOutcome = { index: number; status: 'delivered'; externalId: string | null } | { index: number; status: 'failed'; error: string };

export interface ConnectorContext {
  config: { id: string; organization_id: string; integration_type: string; base_url: string | null; extra_config: Record<string, unknown> };
  credentials: IntegrationCredentials;
  /**
   * A connector that makes more than one request in one deliver() (a token, then the rows; the
   * rows again without refused ones) calls this before each one after its first (requestGate): the
   * engine checks before each deliver(), and an attempt stops before its next request when the
   * config was disabled or paused meanwhile (it throws DeliveryStopped).
   */
  beforeRequest?: () => Promise<void>;
}

/**
 * Why an attempt stops on purpose: its sync run's error (but `deleted`, which leaves nothing to
 * record). `config_changed`: its destination or credentials were changed meanwhile; the rest goes
 * at once, where and as the config now says.
 */
export const STOP_REASONS = ['disabled_integration_must_not_sync', 'integration_paused', 'deleted', 'shutdown', 'config_changed'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/**
 * The attempt stops before its next request: the config was disabled, paused or deleted meanwhile.
 * A connector that already has outcomes in this deliver() puts them in `answered` and throws it on:
 * those rows are stored, not sent again.
 */
export class DeliveryStopped extends Error {
  override name = 'DeliveryStopped';
  answered: RowOutcome[] = [];

  /** `shutdown`: the instance is stopping (SIGTERM); another carries the run on. */
  constructor(readonly reason: StopReason) {
    super(`Delivery stopped: ${reason}`);
  }
}

/** Call before each request: the first passes, each after it runs `check` (a connector's: ConnectorContext.beforeRequest, for one deliver()). */
export function requestGate(check: (() => Promise<void>) | undefined): () => Promise<void> {
  let sent = 0;
  return async () => {
    if (sent++ > 0) await check?.();
  };
}

export interface Connector {
  /** The registered integration type this connector delivers for. */
  readonly integrationType: string;
  /** Rows per deliver() call (a vendor's batch limit). */
  readonly maxBatchSize: number;
  /**
   * Delivers a batch: one outcome per row (a row the system refused is `failed` with its message).
   * A failure of the whole batch is thrown: a DeliveryFailure says how to treat it, anything
   * else is retried.
   */
  deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]>;
  /**
   * What deliver() would refuse of a row without sending it: the row's error as deliver() gives it
   * (the same function deliver() calls, so the two never disagree), or null. Pure and cheap, no I/O,
   * no credentials (the message describes the row's values only): export previews and results call
   * it for every row, for their `delivery_would_refuse:<index>:<message>` warnings. Optional: a
   * connector without it has nothing predicted.
   */
  refusalOf?(output: Record<string, unknown>): string | null;
  /**
   * POST …/connection-test: authenticates and makes one read-only call; sends no claim data.
   * Resolves when the system answered as expected; otherwise throws (a DeliveryFailure says why).
   * Optional: a connector without it answers `ok: false` ("connection test not supported").
   */
  testConnection?(context: ConnectorContext): Promise<void>;
}

/**
 * How a whole-batch failure is treated: `retryable` (network, timeout, 5xx, throttling) and
 * `credentials_rejected` (the system refused the credentials: 401/403, a token refused) are
 * both retried with backoff; the run's error says `credentials_rejected` for the latter.
 */
export type DeliveryFailureKind = 'retryable' | 'credentials_rejected';

/**
 * A batch that failed as a whole: retried with backoff (at least `retryAfterSeconds` when the
 * system said so). `answered` holds the outcomes of rows the system did answer before the batch
 * failed (a `$batch` whose other parts were throttled): the engine stores them before the retry,
 * so those rows are not sent again; the rows without one stay pending. `retryAfterNamed`: the
 * wait is the system's own (a Retry-After), which POST …/sync keeps; false for a connector's
 * guess (a vendor's sample code's wait), which the admin asking may skip like the backoff.
 */
export class DeliveryFailure extends Error {
  override name = 'DeliveryFailure';

  constructor(
    readonly kind: DeliveryFailureKind,
    message: string,
    readonly retryAfterSeconds?: number,
    readonly answered: RowOutcome[] = [],
    readonly retryAfterNamed = true,
  ) {
    super(message);
  }
}

/** The row's stable external reference. */
export function rowReference(exportRunId: string, index: number): string {
  return `meander:${exportRunId}:${index}`;
}

const MAX_BACKOFF_MS = 60 * 60_000;

/** The delay before attempt `attempt + 1`: doubling from `baseMs`, ±20 % jitter, at most an hour, never before `retryAfterSeconds`. */
export function retryDelayMs(attempt: number, baseMs: number, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const backoff = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  // Capped after the jitter too: an hour is the most (API.md), the vendor's Retry-After aside.
  const jittered = Math.min(MAX_BACKOFF_MS, Math.round(backoff * (0.8 + 0.4 * random())));
  return Math.max(jittered, (retryAfterSeconds ?? 0) * 1000);
}

/** What a connector is given of a config: its settings and the credentials decrypted for this use. */
export function connectorContext(
  config: Pick<IntegrationConfigEntity, 'id' | 'organization_id' | 'integration_type' | 'base_url' | 'extra_config'>,
  credentials: IntegrationCredentials,
): ConnectorContext {
  return {
    config: { id: config.id, organization_id: config.organization_id, integration_type: config.integration_type, base_url: config.base_url, extra_config: config.extra_config },
    credentials,
  };
}

/** A failed attempt's (or connection test's) error as stored: the rule or kind where there is one, else the error's own message. */
export function attemptError(error: unknown): string {
  if (error instanceof EgressRefused) return error.rule;
  if (error instanceof DeliveryFailure && error.kind === 'credentials_rejected') return 'credentials_rejected';
  return String((error as Error)?.message ?? error) || 'delivery failed';
}

/**
 * A connector's outcomes for a batch, held to its contract (one per row sent; a host may register
 * its own connector): an outcome for a row not in the batch is dropped (it would settle a row never
 * sent), and a row without one fails the batch as retryable, the answered rows kept.
 */
export function outcomesForEveryRow(integrationType: string, rows: DeliveryRow[], outcomes: RowOutcome[]): RowOutcome[] {
  const answered = outcomesForRowsSent(rows, outcomes);
  if (answered.length === rows.length) return answered;
  throw new DeliveryFailure('retryable', `The ${integrationType} connector answered for ${answered.length} of the ${rows.length} rows it was sent`, undefined, answered);
}

/** The longest external id a row keeps (export_run_rows.external_id). */
export const MAX_EXTERNAL_ID_LENGTH = 255;

/**
 * The outcomes of rows that were sent, the first of each: the rest would settle rows never sent (or
 * twice). An external id is the system's text: not kept when it cannot be stored as it is (longer
 * than the column, or with a NUL or an unpaired surrogate): changed, it would name another record.
 */
export function outcomesForRowsSent(rows: DeliveryRow[], outcomes: RowOutcome[]): RowOutcome[] {
  const sent = new Set(rows.map((row) => row.index));
  const answered = new Map<number, RowOutcome>();
  for (const outcome of outcomes) if (sent.has(outcome.index) && !answered.has(outcome.index)) answered.set(outcome.index, storableOutcome(outcome));
  return [...answered.values()];
}

function storableOutcome(outcome: RowOutcome): RowOutcome {
  if (outcome.status !== 'delivered' || outcome.externalId === null) return outcome;
  if (outcome.externalId.length <= MAX_EXTERNAL_ID_LENGTH && storableText(outcome.externalId) === outcome.externalId) return outcome;
  return { ...outcome, externalId: null };
}
