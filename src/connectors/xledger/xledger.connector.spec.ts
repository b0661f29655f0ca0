// The connector against the local Xledger fake (test/support/fakes/xledger-fake.ts): what goes on
// the wire, how often, and what each of Xledger's answers becomes.
import { startXledgerFake, type XledgerFake } from '../../../test/support/fakes/xledger-fake';
import { OutboundClient, OutboundError, type OutboundRequest } from '../../egress/outbound-http';
import { attemptError, DeliveryFailure, DeliveryStopped, rowReference, type ConnectorContext, type DeliveryRow } from '../../sync/connector';
import { XledgerConnector } from './xledger.connector';
import { ADD_GL_IMPORT_ITEMS_MUTATION } from './xledger-graphql';

const API_KEY = 'xl-Tok3n/abcdef0123456789+SECRET';
const RUN = '3f2b0c1e-0000-4000-8000-0000000000aa';

const rowsOf = (count: number, from = 0): DeliveryRow[] =>
  Array.from({ length: count }, (_, i) => {
    const index = from + i;
    return {
      index,
      reference: rowReference(RUN, index),
      output: { Amount: 100 + index / 4, TransactionDate: '20.11.2026', AccountCode: '7140', text: `Claim ${index}`, 'currency.code': 'NOK' },
    };
  });

const contextFor = (url: string, apiKey: string | null = API_KEY): ConnectorContext => ({
  config: { id: 'c0ffee00-0000-4000-8000-000000000001', organization_id: 'c0ffee00-0000-4000-8000-000000000002', integration_type: 'xledger', base_url: url, extra_config: {} },
  credentials: { base_url: url, api_key: apiKey, client_id: null, client_secret: null, tenant_id: null, webhook_secret: null },
});

/** Every error a test saw thrown: none may hold the token. */
const thrown: unknown[] = [];
async function failureOf(promise: Promise<unknown>): Promise<DeliveryFailure> {
  try {
    await promise;
  } catch (error) {
    thrown.push(error);
    if (error instanceof DeliveryFailure) return error;
    throw error;
  }
  throw new Error('expected a DeliveryFailure');
}

describe('XledgerConnector against the Xledger fake', () => {
  let fake: XledgerFake;
  let http: OutboundClient;
  let connector: XledgerConnector;

  beforeEach(async () => {
    fake = await startXledgerFake({ apiKey: API_KEY });
    http = new OutboundClient({ policy: { allowPrivate: true }, ca: [fake.cert] });
    connector = new XledgerConnector(http);
  });

  afterEach(async () => {
    http.close();
    await fake.close();
  });

  afterAll(() => {
    for (const error of thrown) {
      expect(String((error as Error).message)).not.toContain(API_KEY);
      expect(JSON.stringify(error)).not.toContain(API_KEY);
    }
  });

  it('sends the rows given in one addGLImportItems request, with the token and the references', async () => {
    const rows = rowsOf(3);
    const outcomes = await connector.deliver(contextFor(fake.url), rows);

    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/graphql', operation: 'addGLImportItems', answer: 200 });
    expect(request.headers.authorization).toBe(`token ${API_KEY}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body).toEqual({
      query: ADD_GL_IMPORT_ITEMS_MUTATION,
      variables: {
        inputs: rows.map((row) => ({
          clientId: String(row.index),
          node: {
            amount: String(100 + row.index / 4),
            postedDate: '2026-11-20',
            account: { code: '7140' },
            text: `Claim ${row.index}`,
            currency: { code: 'NOK' },
            extIdentifier: row.reference,
          },
        })),
      },
    });
    // Values travel only as variables.
    expect(String(request.body?.query)).not.toContain('Claim');

    expect(outcomes).toEqual(rows.map((row) => ({ index: row.index, status: 'delivered', externalId: String(fake.items.get(row.reference)?.dbId) })));
    expect([...fake.items.keys()]).toEqual(rows.map((row) => row.reference));
  });

  it('sends a full batch of 500 as one request, and nothing for an empty one', async () => {
    const outcomes = await connector.deliver(contextFor(fake.url), rowsOf(500));
    expect(fake.requests).toHaveLength(1);
    expect((fake.requests[0].body?.variables?.inputs as unknown[]).length).toBe(500);
    expect(outcomes.filter((o) => o.status === 'delivered')).toHaveLength(500);
    expect(fake.items.size).toBe(500);

    expect(await connector.deliver(contextFor(fake.url), [])).toEqual([]);
    await expect(connector.deliver(contextFor(fake.url), rowsOf(501))).rejects.toThrow('at most 500 rows');
    expect(fake.requests).toHaveLength(1);
  });

  it('fails a row it cannot translate without sending it; the others go', async () => {
    const rows = rowsOf(3);
    rows[1] = { ...rows[1], output: { ...rows[1].output, TransactionDate: 'next Tuesday' } };
    const outcomes = await connector.deliver(contextFor(fake.url), rows);
    expect(outcomes[1]).toEqual({ index: 1, status: 'failed', error: 'TransactionDate "next Tuesday" is not a date (yyyy-MM-dd or dd.MM.yyyy)' });
    expect(outcomes.filter((o) => o.status === 'delivered').map((o) => o.index)).toEqual([0, 2]);
    expect((fake.requests[0].body?.variables?.inputs as { clientId: string }[]).map((i) => i.clientId)).toEqual(['0', '2']);

    const none = rowsOf(2).map((row) => ({ ...row, output: { ...row.output, Amount: 'n/a' } }));
    expect((await connector.deliver(contextFor(fake.url), none)).map((o) => o.status)).toEqual(['failed', 'failed']);
    expect(fake.requests).toHaveLength(1);
  });

  it('refusalOf says, sending nothing, what deliver() fails a row with, word for word; null for a row it sends', async () => {
    const outputs: Record<string, unknown>[] = [
      // The new user's row: an expense type without an accounting code, the mapping not required.
      { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: null },
      { Amount: 120.5, TransactionDate: '20.11.2026' },
      { Amount: '1,234', TransactionDate: '20.11.2026', AccountCode: '7140' },
      { Amount: '1e-7', TransactionDate: '20.11.2026', AccountCode: '7140' },
      { Amount: 120.5, TransactionDate: 'next Tuesday', AccountCode: '7140' },
      { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '7140', 'Cost centre': 'A' },
      { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '7140', 'account.code': '9999' },
      { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '7140', text: 'x'.repeat(500), 'text.more': 1 },
    ];
    const valid = rowsOf(2).map((row) => row.output);
    const predicted = [...outputs, ...valid].map((output) => connector.refusalOf(output));
    expect(fake.requests).toHaveLength(0);
    expect(predicted.slice(outputs.length)).toEqual([null, null]);
    expect(predicted[0]).toBe('AccountCode null is not an account code');

    const rows = [...outputs, ...valid].map((output, index) => ({ index, reference: rowReference(RUN, index), output }));
    const outcomes = await connector.deliver(contextFor(fake.url), rows);
    expect(outcomes.map((o) => (o.status === 'failed' ? o.error : null))).toEqual(predicted);
    // Only the valid rows went; no message names the token (the check is given none).
    expect((fake.requests[0].body?.variables?.inputs as { clientId: string }[]).map((i) => i.clientId)).toEqual([String(outputs.length), String(outputs.length + 1)]);
    for (const message of predicted) expect(String(message)).not.toContain(API_KEY);
  });

  it('writes a tiny or huge amount in plain decimal form, which Xledger takes', async () => {
    const rows = rowsOf(2);
    rows[0] = { ...rows[0], output: { ...rows[0].output, Amount: 1e-7 } };
    rows[1] = { ...rows[1], output: { ...rows[1].output, Amount: 1e21 } };
    const outcomes = await connector.deliver(contextFor(fake.url), rows);
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered']);
    const [request] = fake.requests;
    expect(request.rawBody).toContain('"amount":"0.0000001"');
    expect(request.rawBody).toContain('"amount":"1000000000000000000000"');
  });

  it('answers a wrong token with credentials_rejected and creates nothing', async () => {
    const failure = await failureOf(connector.deliver(contextFor(fake.url, 'xl-not-the-right-token'), rowsOf(2)));
    expect(failure.kind).toBe('credentials_rejected');
    expect(fake.items.size).toBe(0);
    expect(fake.requests).toHaveLength(1);
  });

  it('says a config without an api_key lacks it, sending nothing: no request was refused, so not credentials_rejected', async () => {
    for (const apiKey of [null, '']) {
      const failure = await failureOf(connector.deliver(contextFor(fake.url, apiKey), rowsOf(2)));
      expect(failure).toMatchObject({ kind: 'retryable', message: 'The xledger config has no api_key (its API token)', answered: [] });
      // What an attempt stores as its error (and a connection test answers).
      expect(attemptError(failure)).toBe('The xledger config has no api_key (its API token)');
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('answers a revoked token with credentials_rejected, whatever HTTP status carries the refusal', async () => {
    fake.rejectAuth();
    expect((await failureOf(connector.deliver(contextFor(fake.url), rowsOf(1)))).kind).toBe('credentials_rejected');
    expect(fake.requests[0].answer).toBe(401);

    const quiet = await startXledgerFake({ apiKey: API_KEY, authFailureStatus: 200 });
    const quietHttp = new OutboundClient({ policy: { allowPrivate: true }, ca: [quiet.cert] });
    try {
      quiet.rejectAuth();
      const failure = await failureOf(new XledgerConnector(quietHttp).deliver(contextFor(quiet.url), rowsOf(1)));
      expect(failure.kind).toBe('credentials_rejected');
      expect(quiet.requests[0].answer).toBe(200);
    } finally {
      quietHttp.close();
      await quiet.close();
    }
  });

  it.each([
    ['BAD_REQUEST.BURST_RATE_LIMIT_REACHED' as const, undefined, 5],
    ['BAD_REQUEST.CONCURRENCY_LIMIT_REACHED' as const, undefined, 5],
    ['BAD_REQUEST.INSUFFICIENT_CREDITS' as const, undefined, 1200],
    ['BAD_REQUEST.INSUFFICIENT_CREDITS' as const, { resetAt: '2026-11-20T12:15:00Z' }, 900],
  ])('retries %s after the wait Xledger asks for (%j)', async (code, extensions, seconds) => {
    connector = new XledgerConnector(http, () => Date.parse('2026-11-20T12:00:00Z'));
    fake.throttleNext(code, 1, extensions);
    const failure = await failureOf(connector.deliver(contextFor(fake.url), rowsOf(2)));
    expect(failure).toMatchObject({ kind: 'retryable', message: code, retryAfterSeconds: seconds });
    expect(fake.items.size).toBe(0);

    // The retry goes through.
    const outcomes = await connector.deliver(contextFor(fake.url), rowsOf(2));
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered']);
    expect(fake.requests).toHaveLength(2);
  });

  it.each([
    [429, { 'retry-after': '17' }, 17],
    [503, { 'retry-after': '30' }, 30],
    [500, {}, undefined],
  ])('retries HTTP %i, honouring Retry-After', async (status, headers, seconds) => {
    fake.failNext(status, 1, headers);
    const failure = await failureOf(connector.deliver(contextFor(fake.url), rowsOf(1)));
    expect(failure).toMatchObject({ kind: 'retryable', message: `Xledger answered HTTP ${status}`, retryAfterSeconds: seconds });
    expect(fake.items.size).toBe(0);
  });

  it('fails the items Xledger refuses with its message and delivers the others (whole request refused: the rest sent again)', async () => {
    const rows = rowsOf(4);
    fake.refuseItems([rows[1].reference, rows[3].reference], `Account 7140 is closed for posting (token ${API_KEY})`);
    const outcomes = await connector.deliver(contextFor(fake.url), rows);

    expect(outcomes[1]).toMatchObject({ index: 1, status: 'failed' });
    expect(outcomes[3]).toMatchObject({ index: 3, status: 'failed' });
    const error = (outcomes[1] as { error: string }).error;
    expect(error).toContain("Variable '$inputs[1].node' is invalid. Account 7140 is closed for posting");
    expect(error).not.toContain(API_KEY);
    expect(outcomes.filter((o) => o.status === 'delivered').map((o) => o.index)).toEqual([0, 2]);
    expect([...fake.items.keys()]).toEqual([rows[0].reference, rows[2].reference]);
    // The refused request, then the others alone.
    expect(fake.requests).toHaveLength(2);
    expect((fake.requests[1].body?.variables?.inputs as { clientId: string }[]).map((i) => i.clientId)).toEqual(['0', '2']);
  });

  it('asks the engine before sending the rest again, and stops there when the config was disabled, keeping the refusals', async () => {
    const rows = rowsOf(3);
    fake.refuseItems([rows[1].reference], 'Account 7140 is closed for posting');
    let asked = 0;
    const stopped = new DeliveryStopped('disabled_integration_must_not_sync');
    const context: ConnectorContext = {
      ...contextFor(fake.url),
      beforeRequest: async () => {
        asked++;
        throw stopped;
      },
    };
    await expect(connector.deliver(context, rows)).rejects.toBe(stopped);
    // Asked once: before the second request, not the first (the engine asks before each deliver()).
    expect(asked).toBe(1);
    expect(fake.requests).toHaveLength(1);
    expect(fake.items.size).toBe(0);
    expect(stopped.answered).toEqual([{ index: 1, status: 'failed', error: expect.stringContaining('Account 7140 is closed for posting') }]);
  });

  it('fails the items Xledger refuses and delivers the others in one request when Xledger carries the rest out', async () => {
    const rows = rowsOf(3);
    fake.refuseItems((node) => node.extIdentifier === rows[2].reference, 'Period 2026-11 is closed', { partial: true });
    const outcomes = await connector.deliver(contextFor(fake.url), rows);
    expect(outcomes).toEqual([
      { index: 0, status: 'delivered', externalId: String(fake.items.get(rows[0].reference)?.dbId) },
      { index: 1, status: 'delivered', externalId: String(fake.items.get(rows[1].reference)?.dbId) },
      { index: 2, status: 'failed', error: 'Period 2026-11 is closed' },
    ]);
    expect(fake.requests).toHaveLength(1);
  });

  it('keeps the items a throttled answer shows created (its edges): delivered in `answered`, only the others go again', async () => {
    const rows = rowsOf(4);
    fake.throttleNext('BAD_REQUEST.BURST_RATE_LIMIT_REACHED', 1, undefined, { afterItems: 2 });
    const failure = await failureOf(connector.deliver(contextFor(fake.url), rows));
    expect(failure).toMatchObject({ kind: 'retryable', message: 'BAD_REQUEST.BURST_RATE_LIMIT_REACHED', retryAfterSeconds: 5 });
    expect(fake.items.size).toBe(2);
    const dbIdOf = (row: DeliveryRow) => String(fake.items.get(row.reference)?.dbId);
    expect(failure.answered).toEqual([0, 1].map((index) => ({ index, status: 'delivered', externalId: dbIdOf(rows[index]) })));

    // The engine sends again the rows without an outcome.
    expect(await connector.deliver(contextFor(fake.url), rows.slice(2))).toEqual([2, 3].map((index) => ({ index, status: 'delivered', externalId: dbIdOf(rows[index]) })));
    expect(fake.items.size).toBe(4);
    expect(fake.requests.map((r) => (r.body?.variables?.inputs as { clientId: string }[]).map((i) => i.clientId))).toEqual([
      ['0', '1', '2', '3'],
      ['2', '3'],
    ]);
  });

  it('carries the items an earlier request of the same call refused when a later one fails as a whole', async () => {
    const rows = rowsOf(3);
    const answers = [
      // graphql-dotnet's refusal of one input: the request refused as a whole, nothing created.
      { errors: [{ message: "Variable '$inputs[1].node' is invalid. Account 7140 is closed for posting", extensions: { code: 'INVALID_VALUE' } }] },
      { errors: [{ message: 'Too many requests', code: 'BAD_REQUEST.BURST_RATE_LIMIT_REACHED' }], data: null },
    ];
    const sent: unknown[] = [];
    const client = {
      request: (request: OutboundRequest) => {
        sent.push(JSON.parse(String(request.body)));
        return Promise.resolve({ status: 200, headers: {}, body: Buffer.from(JSON.stringify(answers.shift())) });
      },
    };
    const failure = await failureOf(new XledgerConnector(client as unknown as OutboundClient).deliver(contextFor('https://xledger.example/graphql'), rows));
    expect(failure).toMatchObject({ kind: 'retryable', retryAfterSeconds: 5 });
    // Row 1 is Xledger's refusal, stored; rows 0 and 2 go again.
    expect(failure.answered).toEqual([{ index: 1, status: 'failed', error: expect.stringContaining('Account 7140 is closed for posting') }]);
    expect(sent).toHaveLength(2);
  });

  it('throws retryable when the answer is lost, and a repeat creates nothing twice', async () => {
    const rows = rowsOf(3);
    fake.loseAnswerNext();
    const failure = await failureOf(connector.deliver(contextFor(fake.url), rows));
    expect(failure.kind).toBe('retryable');
    expect(failure.message).toContain('network');
    // Xledger carried the request out before the connection went.
    expect(fake.requests[0].answer).toBe('lost');
    expect(fake.items.size).toBe(3);
    const dbIds = rows.map((row) => fake.items.get(row.reference)?.dbId);

    const outcomes = await connector.deliver(contextFor(fake.url), rows);
    expect(outcomes).toEqual(rows.map((row, i) => ({ index: row.index, status: 'delivered', externalId: String(dbIds[i]) })));
    expect(fake.items.size).toBe(3);
    expect(fake.requests).toHaveLength(2);
  });

  it('throws retryable on a timeout, naming no secret', async () => {
    const timingOut = { request: (_: OutboundRequest) => Promise.reject(new OutboundError('timeout', 'No whole answer from 127.0.0.1 within 30000 ms')) } as OutboundClient;
    const failure = await failureOf(new XledgerConnector(timingOut).deliver(contextFor(fake.url), rowsOf(1)));
    expect(failure).toMatchObject({ kind: 'retryable', message: 'Xledger request failed (timeout): No whole answer from 127.0.0.1 within 30000 ms' });
  });

  describe('answers the fake does not give', () => {
    const answering = (body: unknown) => {
      const requests: OutboundRequest[] = [];
      const client = {
        request: (request: OutboundRequest) => {
          requests.push(request);
          return Promise.resolve({ status: 200, headers: {}, body: Buffer.from(JSON.stringify(body)) });
        },
      };
      return { requests, connector: new XledgerConnector(client as unknown as OutboundClient) };
    };

    it('never sends again an item an executed mutation left out: it fails, the listed one is delivered', async () => {
      const { requests, connector: stubbed } = answering({ data: { addGLImportItems: { edges: [{ clientId: '0', node: { dbId: 42 } }] } } });
      expect(await stubbed.deliver(contextFor('https://xledger.example/graphql'), rowsOf(2))).toEqual([
        { index: 0, status: 'delivered', externalId: '42' },
        { index: 1, status: 'failed', error: "Xledger's answer did not include this item" },
      ]);
      expect(requests).toHaveLength(1);
    });

    it('keeps the items an answer with a refused token shows created; an item an error names too is not claimed', async () => {
      const { requests, connector: stubbed } = answering({
        data: {
          addGLImportItems: {
            edges: [
              { clientId: '0', node: { dbId: 42 } },
              { clientId: '2', node: { dbId: 44 } },
            ],
          },
        },
        errors: [{ message: 'Invalid API token.' }, { message: 'Item failed', extensions: { clientId: '2' } }],
      });
      const failure = await failureOf(stubbed.deliver(contextFor('https://xledger.example/graphql'), rowsOf(3)));
      expect(failure).toMatchObject({ kind: 'credentials_rejected', answered: [{ index: 0, status: 'delivered', externalId: '42' }] });
      expect(requests).toHaveLength(1);
    });

    it('fails the batch as a whole, retryable, when nothing ran and no item is to blame', async () => {
      const { requests, connector: stubbed } = answering({ errors: [{ message: 'Your query timed out.' }], data: null });
      expect(await failureOf(stubbed.deliver(contextFor('https://xledger.example/graphql'), rowsOf(2)))).toMatchObject({
        kind: 'retryable',
        message: 'Xledger: Your query timed out.',
      });
      expect(requests).toHaveLength(1);
    });
  });

  describe('testConnection', () => {
    it('makes one read-only query with the token and sends no claim data', async () => {
      await connector.testConnection(contextFor(fake.url));
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]).toMatchObject({ operation: 'connectionTest', answer: 200 });
      expect(fake.requests[0].headers.authorization).toBe(`token ${API_KEY}`);
      expect(fake.requests[0].body).toEqual({ query: 'query MeanderConnectionTest { __typename }' });
      expect(fake.items.size).toBe(0);
    });

    it('says what is missing for a config without an api_key, sending nothing', async () => {
      const failure = await failureOf(connector.testConnection(contextFor(fake.url, null)));
      expect(attemptError(failure)).toBe('The xledger config has no api_key (its API token)');
      expect(fake.requests).toHaveLength(0);
    });

    it('throws credentials_rejected for a refused token and retryable when throttled', async () => {
      expect((await failureOf(connector.testConnection(contextFor(fake.url, 'xl-wrong')))).kind).toBe('credentials_rejected');
      fake.throttleNext('BAD_REQUEST.BURST_RATE_LIMIT_REACHED');
      expect(await failureOf(connector.testConnection(contextFor(fake.url)))).toMatchObject({ kind: 'retryable', retryAfterSeconds: 5 });
      expect(fake.requests).toHaveLength(2);
    });
  });
});
