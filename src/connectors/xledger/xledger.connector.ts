// Delivers export rows to Xledger as GL import items (API.md "Delivery to the external systems",
// shared/CONNECTORS.md "Xledger"). Pure: no Nest imports; a host registers an instance through
// IntegrationsModule.forRoot({ connectors }).
import { countOf } from '../../common/count-of';
import { OutboundError, type Outbound, type OutboundResponse } from '../../egress/outbound-http';
import { scrubSyncError } from '../../integration-config/sync-error';
import { DeliveryFailure, DeliveryStopped, requestGate, type Connector, type ConnectorContext, type DeliveryRow, type RowOutcome } from '../../sync/connector';
import {
  addGLImportItemsBody,
  connectionTestBody,
  glImportRefusal,
  readAddAnswer,
  readConnectionTestAnswer,
  toGLImportInput,
  XLEDGER_MAX_ITEMS,
  type GLImportInput,
  type GraphQLRequestBody,
  type WholeFailure,
} from './xledger-graphql';

/**
 * Requests one deliver() may make when Xledger rejects a batch as a whole for items it names:
 * the first, then the rest without them. Each request is billed, hence the bound.
 */
const MAX_REQUESTS_PER_BATCH = 3;

export class XledgerConnector implements Connector {
  readonly integrationType = 'xledger';
  readonly maxBatchSize = XLEDGER_MAX_ITEMS;

  constructor(
    private readonly http: Outbound,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One `addGLImportItems` request for the rows given (each row's reference as `extIdentifier`).
   * A row Xledger refuses is `failed` with its message and the others go on; a row that cannot be
   * translated is `failed` without being sent. The batch as a whole fails with a DeliveryFailure:
   * throttling, 429, 5xx, network and timeouts are `retryable` (with Xledger's wait), a refused
   * token is `credentials_rejected`; its `answered` holds the outcomes known by then (items an
   * earlier request of this call refused, rows not translated, items the failed answer shows
   * created all the same), so those rows are not sent again. No message ever holds the token.
   */
  async deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    if (rows.length > this.maxBatchSize) throw new Error(`XledgerConnector.deliver takes at most ${this.maxBatchSize} rows, got ${rows.length}`);
    const { url, apiKey } = this.target(context);
    const outcomes = new Map<number, RowOutcome>();
    let pending: { row: DeliveryRow; input: GLImportInput }[] = [];
    for (const row of rows) {
      const translated = toGLImportInput(row);
      if (translated.ok) pending.push({ row, input: translated.input });
      else outcomes.set(row.index, { index: row.index, status: 'failed', error: translated.error });
    }

    // Invariant: another request is only sent while nothing has been created; a failure carries
    // every outcome known (the items an answer shows created among them), so none is sent again.
    const gate = requestGate(context.beforeRequest);
    const fail = (failure: WholeFailure) => this.failure(failure, apiKey, [...outcomes.values()]);
    for (let request = 1; pending.length > 0; request++) {
      const clientIds = pending.map((p) => p.input.clientId);
      try {
        await gate();
      } catch (error) {
        // Disabled meanwhile: the items Xledger already refused keep their outcome.
        if (error instanceof DeliveryStopped) error.answered = [...outcomes.values()];
        throw error;
      }
      let response: OutboundResponse;
      try {
        response = await this.post(url, apiKey, addGLImportItemsBody(pending.map((p) => p.input)));
      } catch (error) {
        // Lost or timed out: the rows go again (their extIdentifiers make that safe), the outcomes known stay.
        if (!(error instanceof DeliveryFailure)) throw error;
        throw new DeliveryFailure(error.kind, error.message, error.retryAfterSeconds, [...outcomes.values()], error.retryAfterNamed);
      }
      const reading = readAddAnswer(response, clientIds, this.now());
      if (!reading.ok) {
        // Throttled or refused after creating some: those are delivered, the others go again.
        for (const { row, input } of pending) {
          if (reading.failure.created?.has(input.clientId)) {
            outcomes.set(row.index, { index: row.index, status: 'delivered', externalId: reading.failure.created.get(input.clientId) ?? null });
          }
        }
        throw fail(reading.failure);
      }
      const { executed, created, refused, otherErrors } = reading.value;

      const unanswered: typeof pending = [];
      for (const p of pending) {
        const { index } = p.row;
        const clientId = p.input.clientId;
        if (created.has(clientId)) outcomes.set(index, { index, status: 'delivered', externalId: created.get(clientId) ?? null });
        else if (refused.has(clientId)) outcomes.set(index, { index, status: 'failed', error: scrub(refused.get(clientId) as string, apiKey) });
        else unanswered.push(p);
      }
      if (unanswered.length === 0) break;

      if (executed) {
        // The mutation ran but did not account for these: they may exist, so they are never sent again.
        const why = otherErrors.length > 0 ? `Xledger: ${otherErrors.join('; ')}` : "Xledger's answer did not include this item";
        for (const { row } of unanswered) outcomes.set(row.index, { index: row.index, status: 'failed', error: scrub(why, apiKey) });
        break;
      }
      // Not executed: nothing was created. Without an item to blame, the batch failed as a whole.
      const detail = otherErrors.length > 0 ? otherErrors.join('; ') : 'no items in the answer';
      if (refused.size === 0) throw fail({ kind: 'retryable', message: `Xledger: ${detail}` });
      if (request >= MAX_REQUESTS_PER_BATCH) throw fail({ kind: 'retryable', message: `Xledger kept refusing items; ${countOf(unanswered.length, 'row')} not sent` });
      // Xledger refused the request for the items it named: the others go again, without them.
      pending = unanswered;
    }
    return rows.map((row) => outcomes.get(row.index) as RowOutcome);
  }

  /** What deliver() fails without a request: a row toGLImportInput cannot translate. */
  refusalOf(output: Record<string, unknown>): string | null {
    return glImportRefusal(output);
  }

  /** One read-only query with the token; resolves when Xledger answered it. */
  async testConnection(context: ConnectorContext): Promise<void> {
    const { url, apiKey } = this.target(context);
    const response = await this.post(url, apiKey, connectionTestBody());
    const reading = readConnectionTestAnswer(response, this.now());
    if (!reading.ok) throw this.failure(reading.failure, apiKey);
  }

  private target(context: ConnectorContext): { url: string; apiKey: string } {
    const url = context.config.base_url ?? context.credentials.base_url;
    if (!url) throw new DeliveryFailure('retryable', 'The Xledger config has no base_url (its GraphQL endpoint)');
    const apiKey = context.credentials.api_key;
    // Nothing was sent, so nothing was refused: the config lacks it (a delivery's error and a connection test's say so).
    if (!apiKey) throw new DeliveryFailure('retryable', 'The xledger config has no api_key (its API token)');
    return { url, apiKey };
  }

  private async post(url: string, apiKey: string, body: GraphQLRequestBody): Promise<OutboundResponse> {
    try {
      return await this.http.request({
        url,
        method: 'POST',
        headers: { Authorization: `token ${apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (error) {
      // Timeouts and cut connections: the request may have been carried out; the references make a repeat safe.
      if (error instanceof OutboundError) throw new DeliveryFailure('retryable', scrub(`Xledger request failed (${error.code}): ${error.message}`, apiKey));
      throw error;
    }
  }

  private failure(failure: WholeFailure, apiKey: string, answered: RowOutcome[] = []): DeliveryFailure {
    return new DeliveryFailure(failure.kind, scrub(failure.message, apiKey), failure.retryAfterSeconds, answered, failure.retryAfterNamed ?? true);
  }
}

/** Xledger's words may quote what it was sent: never the token. */
function scrub(text: string, apiKey: string): string {
  return scrubSyncError(text, [apiKey]);
}
