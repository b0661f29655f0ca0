import { randomUUID } from 'node:crypto';
import { parseBatchRequest, startDataverseFake, type DataverseFake } from '../../../test/support/fakes/dataverse-fake';
import { EgressRefused, OutboundClient, type OutboundRequest, type OutboundResponse } from '../../egress/outbound-http';
import { DeliveryFailure, DeliveryStopped, rowReference, type ConnectorContext, type DeliveryRow } from '../../sync/connector';
import { DynamicsConnector, entityIdOf, type DynamicsIntegrationType } from './dynamics.connector';
import { dataverseKeyValue } from './dataverse-names';

const TENANT = 'contoso.onmicrosoft.com';
const CLIENT_ID = '535fb089-9ff3-47b6-9bfb-4f1264799865';
const SECRET = 'Qx8Q~dataverse.secret-VALUE_0123456789';
const ENTITY_SET = 'msdyn_expenses';
const KEY = 'meander_reference';
/** The alternate key's value Dataverse is sent for a row. */
const keyOf = (row: { reference: string }) => dataverseKeyValue(row.reference);
const COLUMNS = { ExpenseAmount: 'msdyn_amount', ExpenseDate: 'msdyn_transactiondate', ContactId: 'msdyn_contactid' };

let fake: DataverseFake;
let http: OutboundClient;
// Every message a connector threw, and every token the fake saw: none may hold the other.
const thrown: string[] = [];
const tokensSeen = new Set<string>();

beforeEach(async () => {
  fake = await startDataverseFake({
    tenant: TENANT,
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    entitySets: { [ENTITY_SET]: KEY },
    lookups: { [ENTITY_SET]: { msdyn_contactid: 'contacts', ContactId: 'contacts' } },
  });
  http = new OutboundClient({ policy: { allowPrivate: true }, ca: [fake.ca] });
});

afterEach(async () => {
  for (const request of fake.apiRequests) {
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''));
    if (bearer) tokensSeen.add(bearer[1]);
  }
  http.close();
  await fake.close();
});

afterAll(() => {
  expect(thrown.length).toBeGreaterThan(5);
  for (const message of thrown) {
    expect(message).not.toContain(SECRET);
    for (const token of tokensSeen) expect(message).not.toContain(token);
  }
});

function connector(type: DynamicsIntegrationType = 'dynamics', now?: () => number): DynamicsConnector {
  return new DynamicsConnector(type, http, { authorityUrl: fake.authorityUrl, now });
}

function context(
  over: { type?: DynamicsIntegrationType; configId?: string; extra?: Record<string, unknown>; credentials?: Partial<ConnectorContext['credentials']> } = {},
): ConnectorContext {
  const type = over.type ?? 'dynamics';
  return {
    config: {
      id: over.configId ?? 'config-1',
      organization_id: 'org-1',
      integration_type: type,
      base_url: fake.url,
      extra_config: { entity_set: ENTITY_SET, alternate_key: KEY, columns: COLUMNS, ...(type === 'hlf_portal' ? { tenant_id: TENANT } : {}), ...over.extra },
    },
    credentials: {
      base_url: null,
      api_key: null,
      client_id: CLIENT_ID,
      client_secret: SECRET,
      tenant_id: type === 'dynamics' ? TENANT : null,
      webhook_secret: null,
      ...over.credentials,
    },
  };
}

function rows(count: number, runId: string = randomUUID()): DeliveryRow[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    reference: rowReference(runId, index),
    output: { ExpenseAmount: 100 + index, ExpenseDate: '2026-11-20', ContactId: '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f', msdyn_description: `Claim ${index}` },
  }));
}

async function failure(promise: Promise<unknown>): Promise<DeliveryFailure> {
  try {
    await promise;
  } catch (error) {
    thrown.push((error as Error).message);
    if (error instanceof DeliveryFailure) return error;
    throw error;
  }
  throw new Error('expected the delivery to fail');
}

const batches = () => fake.apiRequests.filter((r) => r.path === '/api/data/v9.2/$batch');

/** A token endpoint's answer, as the identity platform gives it. */
const tokenAnswer = (accessToken: string): OutboundResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify({ token_type: 'Bearer', expires_in: 3599, access_token: accessToken })),
});

/** A connector whose transport answers `answers` in order, recording what it sent; and a context for it. */
function scriptedConnector(answers: OutboundResponse[]) {
  const sent: OutboundRequest[] = [];
  const transport = { request: async (request: OutboundRequest) => (sent.push(request), answers.shift() as OutboundResponse) } as unknown as OutboundClient;
  const ctx: ConnectorContext = {
    config: { id: 'c', organization_id: 'o', integration_type: 'dynamics', base_url: 'https://org.example/', extra_config: { entity_set: 'things', alternate_key: 'ref' } },
    credentials: { base_url: null, api_key: null, client_id: 'id', client_secret: 'secret-value', tenant_id: 'tenant', webhook_secret: null },
  };
  return { dynamics: new DynamicsConnector('dynamics', transport, { authorityUrl: 'https://login.example' }), sent, ctx };
}

/** A $batch answer holding these response parts (each `HTTP/1.1 …` with its headers and body). */
function multipart(status: number, responses: string[]): OutboundResponse {
  const body =
    responses.map((r) => `--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n${r}\r\n`).join('') + '--batchresponse_1--\r\n';
  return { status, headers: { 'content-type': 'multipart/mixed; boundary=batchresponse_1' }, body: Buffer.from(body) };
}

const NO_CONTENT = 'HTTP/1.1 204 No Content\r\n\r\n';

/** A batch part refused with an OData error. */
const part = (status: number, code: string, message: string) =>
  `HTTP/1.1 ${status} Refused\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n${JSON.stringify({ error: { code, message } })}`;

/** A plain 403 answer with an OData error. */
const part403 = (code: string, message: string): OutboundResponse => ({
  status: 403,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify({ error: { code, message } })),
});

describe('the Dynamics 365 / Dataverse connector', () => {
  it('delivers a batch as upserts by alternate key, with a client-credentials token and the documented headers', async () => {
    const sent = rows(3);
    const outcomes = await connector().deliver(context(), sent);

    expect(outcomes).toEqual(sent.map((row) => ({ index: row.index, status: 'delivered', externalId: `${KEY}='${keyOf(row)}'` })));
    expect(fake.tokenRequests).toHaveLength(1);
    const tokenRequest = fake.tokenRequests[0];
    expect(tokenRequest.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(tokenRequest.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: SECRET,
      scope: `${fake.url}/.default`,
    });

    expect(fake.apiRequests).toHaveLength(1);
    const batch = fake.apiRequests[0];
    expect(batch.method).toBe('POST');
    expect(batch.path).toBe('/api/data/v9.2/$batch');
    expect(batch.headers).toMatchObject({ prefer: 'odata.continue-on-error', 'odata-version': '4.0', 'odata-maxversion': '4.0', accept: 'application/json' });
    expect(batch.headers.authorization).toMatch(/^Bearer \S+$/);
    const items = parseBatchRequest(String(batch.headers['content-type']), batch.body);
    expect(items.map((item) => ('request' in item ? [item.request.method, item.request.url] : undefined))).toEqual(
      sent.map((row) => ['PATCH', `${fake.url}/api/data/v9.2/${ENTITY_SET}(${KEY}='${keyOf(row)}')`]),
    );
    // The secret goes to the token endpoint only.
    expect(fake.apiRequests.some((r) => JSON.stringify(r).includes(SECRET))).toBe(false);

    const table = fake.table(ENTITY_SET);
    expect(table.map((r) => r.values)).toEqual(
      sent.map((row, i) => ({
        [KEY]: keyOf(row),
        msdyn_amount: 100 + i,
        msdyn_transactiondate: '2026-11-20',
        _msdyn_contactid_value: '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f',
        msdyn_description: `Claim ${i}`,
      })),
    );
  });

  it('writes the target fields under their own names when extra_config.columns is not given', async () => {
    const [row] = rows(1);
    await connector().deliver(context({ extra: { columns: undefined } }), [row]);
    expect(fake.table(ENTITY_SET)[0].values).toMatchObject({ ExpenseAmount: 100, ExpenseDate: '2026-11-20', _contactid_value: '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f' });
  });

  it('writes numbers in plain decimal form, never in exponent form (Dataverse has refused 8.675E-06 for an Edm.Decimal)', async () => {
    const [tiny, huge] = rows(2);
    tiny.output = { ...tiny.output, ExpenseAmount: 1e-7 };
    huge.output = { ...huge.output, ExpenseAmount: -1.5e21 };
    expect((await connector().deliver(context(), [tiny, huge])).map((o) => o.status)).toEqual(['delivered', 'delivered']);
    const [batch] = batches();
    const bodies = parseBatchRequest(String(batch.headers['content-type']), batch.body).map((item) => ('request' in item ? item.request.body : ''));
    expect(bodies[0]).toContain('"msdyn_amount":0.0000001,');
    expect(bodies[1]).toContain('"msdyn_amount":-1500000000000000000000,');
    expect(fake.table(ENTITY_SET).map((r) => r.values.msdyn_amount)).toEqual([1e-7, -1.5e21]);
  });

  it('binds ContactId as the lookup it is (`@odata.bind` to /contacts), and fails a row whose ContactId is no GUID without sending it', async () => {
    const [good, bad, none] = rows(3);
    bad.output = { ...bad.output, ContactId: 'Kari Nordmann' };
    none.output = { ...none.output, ContactId: null };
    const outcomes = await connector().deliver(context(), [good, bad, none]);
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'failed', 'delivered']);
    expect(outcomes[1]).toMatchObject({ error: 'ContactId must be the id (GUID) of a Dataverse contact' });
    const [batch] = fake.apiRequests.filter((r) => r.path.endsWith('$batch')).slice(-1);
    const bodies = parseBatchRequest(String(batch.headers['content-type']), batch.body).map((item) => ('request' in item ? JSON.parse(item.request.body) : undefined));
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).toMatchObject({ 'msdyn_contactid@odata.bind': '/contacts(0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f)' });
    expect(Object.keys(bodies[1])).not.toContain('msdyn_contactid@odata.bind');
    expect(Object.keys(bodies[0])).not.toContain('msdyn_contactid');
  });

  it('refusalOf says, sending nothing, what deliver() fails a row with (a ContactId that is no GUID); null for the rest', async () => {
    const [good, bad, none, number] = rows(4);
    bad.output = { ...bad.output, ContactId: 'Kari Nordmann' };
    none.output = { ...none.output, ContactId: null };
    number.output = { ...number.output, ContactId: 42 };
    const requests = fake.requests.length;
    const predicted = [good, bad, none, number].map((row) => connector().refusalOf(row.output));
    expect(fake.requests.length).toBe(requests);
    expect(predicted).toEqual([null, 'ContactId must be the id (GUID) of a Dataverse contact', null, 'ContactId must be the id (GUID) of a Dataverse contact']);
    const outcomes = await connector().deliver(context(), [good, bad, none, number]);
    expect(outcomes.map((o) => (o.status === 'failed' ? o.error : null))).toEqual(predicted);
  });

  it('never lets a body column override the alternate key (a repeat would create a second record)', async () => {
    const [row] = rows(1);
    await connector().deliver(context(), [{ ...row, output: { ...row.output, [KEY]: 'something else' } }]);
    await connector().deliver(context(), [{ ...row, output: { ...row.output, [KEY]: 'another thing' } }]);
    expect(fake.table(ENTITY_SET).map((r) => r.key)).toEqual([keyOf(row)]);
  });

  it('keeps the token across batches and asks again shortly before it expires', async () => {
    let clock = Date.now();
    const dynamics = connector('dynamics', () => clock);
    await dynamics.deliver(context(), rows(2));
    await dynamics.deliver(context(), rows(2));
    expect(fake.tokenRequests).toHaveLength(1);
    expect(new Set(batches().map((r) => r.headers.authorization)).size).toBe(1);

    clock += (3599 - 60) * 1000;
    await dynamics.deliver(context(), rows(2));
    expect(fake.tokenRequests).toHaveLength(2);
    expect(new Set(batches().map((r) => r.headers.authorization)).size).toBe(2);
  });

  it('asks for a new token as soon as the credentials change, and never sends the old one with them', async () => {
    const dynamics = connector();
    await dynamics.deliver(context(), rows(1));
    const rotated = context({ credentials: { client_secret: 'Zy7R~a-rotated-secret_9876543210' } });

    const refused = await failure(dynamics.deliver(rotated, rows(1)));
    expect(refused.kind).toBe('credentials_rejected');
    expect(fake.tokenRequests).toHaveLength(2);
    expect(new URLSearchParams(fake.tokenRequests[1].body).get('client_secret')).toBe('Zy7R~a-rotated-secret_9876543210');
    expect(batches()).toHaveLength(1);
    expect(refused.message).not.toContain('Zy7R~a-rotated-secret_9876543210');
  });

  it('fails only the row Dataverse refuses, with its message; the others are delivered', async () => {
    const sent = rows(3);
    fake.refuseRows((upsert) => upsert.key === keyOf(sent[1]), "A validation error occurred. The value of 'msdyn_amount' is outside the allowed range.");
    const outcomes = await connector().deliver(context(), sent);
    expect(outcomes).toEqual([
      { index: 0, status: 'delivered', externalId: expect.any(String) },
      { index: 1, status: 'failed', error: "A validation error occurred. The value of 'msdyn_amount' is outside the allowed range." },
      { index: 2, status: 'delivered', externalId: expect.any(String) },
    ]);
    expect(fake.table(ENTITY_SET).map((r) => r.key)).toEqual([keyOf(sent[0]), keyOf(sent[2])]);
  });

  it('throttled (429): retryable after Retry-After, nothing applied; the repeat delivers', async () => {
    const sent = rows(3);
    fake.throttleNext(1, 17);
    const throttled = await failure(connector().deliver(context(), sent));
    expect(throttled).toMatchObject({ kind: 'retryable', retryAfterSeconds: 17 });
    expect(throttled.message).toContain('429');
    expect(fake.table(ENTITY_SET)).toEqual([]);

    expect((await connector().deliver(context(), sent)).every((o) => o.status === 'delivered')).toBe(true);
    expect(fake.table(ENTITY_SET)).toHaveLength(3);
  });

  it('a 429 or 5xx inside the batch fails the batch, carrying the outcomes of the other parts; repeating it creates nothing twice', async () => {
    const sent = rows(3);
    fake.throttleNext(1, 9, { inBatch: true });
    const throttled = await failure(connector().deliver(context(), sent));
    expect(throttled).toMatchObject({ kind: 'retryable', retryAfterSeconds: 9 });
    expect(throttled.message).toContain('HTTP 429 for 1 of 3 requests');
    // The parts after the throttled one were applied all the same: their outcomes travel with the failure.
    expect(fake.table(ENTITY_SET)).toHaveLength(2);
    expect(throttled.answered).toEqual([1, 2].map((index) => ({ index, status: 'delivered', externalId: `${KEY}='${keyOf(sent[index])}'` })));

    fake.refuseRows((upsert) => upsert.key === keyOf(sent[2]), 'Generic SQL error.', { status: 500, code: '0x80044150' });
    const serverError = await failure(connector().deliver(context(), sent));
    expect(serverError).toMatchObject({ kind: 'retryable' });
    expect(serverError.answered.map((o) => [o.index, o.status])).toEqual([
      [0, 'delivered'],
      [1, 'delivered'],
    ]);

    fake.refuseRows(() => false, '');
    expect((await connector().deliver(context(), sent)).map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(fake.table(ENTITY_SET)).toHaveLength(3);
    expect(fake.createdCount).toBe(3);
  });

  it('a part refused 403 (no privilege on that record) fails that row only; a 403 on every part is credentials_rejected', async () => {
    const sent = rows(3);
    const privilege = 'Principal user (Id=…) is missing prvWritemsdyn_expense privilege (Id=…) on OTC=10048.';
    fake.refuseRows((upsert) => upsert.key === keyOf(sent[1]), privilege, { status: 403, code: '0x80040220' });
    const dynamics = connector();
    expect(await dynamics.deliver(context(), sent)).toEqual([
      { index: 0, status: 'delivered', externalId: expect.any(String) },
      { index: 1, status: 'failed', error: privilege },
      { index: 2, status: 'delivered', externalId: expect.any(String) },
    ]);

    fake.refuseRows(() => true, privilege, { status: 403, code: '0x80040220' });
    const refused = await failure(dynamics.deliver(context(), rows(2)));
    expect(refused).toMatchObject({ kind: 'credentials_rejected', answered: [] });
    // The token was dropped: the next attempt asks for a new one.
    fake.refuseRows(() => false, '');
    await dynamics.deliver(context(), rows(1));
    expect(fake.tokenRequests).toHaveLength(2);
  });

  it('a part refused 401 (the token) is credentials_rejected for the batch, carrying the other parts’ outcomes; the token is dropped', async () => {
    const sent = rows(4);
    fake.refuseRows((upsert) => upsert.key === keyOf(sent[1]), '', { status: 401 });
    fake.throttleNext(1, 5, { inBatch: true, parts: (upsert) => upsert.key === keyOf(sent[3]) });
    const dynamics = connector();
    const refused = await failure(dynamics.deliver(context(), sent));
    expect(refused.kind).toBe('credentials_rejected');
    // Neither the 401 row nor the throttled one is answered: both go again.
    expect(refused.answered.map((o) => [o.index, o.status])).toEqual([
      [0, 'delivered'],
      [2, 'delivered'],
    ]);
    fake.refuseRows(() => false, '');
    await dynamics.deliver(context(), [sent[1], sent[3]]);
    expect(fake.tokenRequests).toHaveLength(2);
    expect(fake.table(ENTITY_SET).map((r) => [r.key, r.writes])).toEqual([0, 2, 1, 3].map((i) => [keyOf(sent[i]), 1]));
  });

  it('goes again after the longest Retry-After its throttled parts name, not the first', async () => {
    const sent = rows(4);
    const waits = new Map([
      [keyOf(sent[1]), 3],
      [keyOf(sent[2]), 11],
      [keyOf(sent[3]), 7],
    ]);
    fake.throttleNext(1, 1, { inBatch: true, parts: (upsert) => waits.has(upsert.key), retryAfterOf: (upsert) => waits.get(upsert.key) as number });
    const throttled = await failure(connector().deliver(context(), sent));
    expect(batches()[0].answer).toBe(200);
    expect(throttled).toMatchObject({ kind: 'retryable', retryAfterSeconds: 11 });
    expect(throttled.message).toContain('HTTP 429 for 3 of 4 requests');
    expect(throttled.answered.map((o) => [o.index, o.status])).toEqual([[0, 'delivered']]);
  });

  describe('a name in extra_config Dataverse does not know: every part refused alike is the config, not the rows', () => {
    it("a mistyped entity_set (404 0x8006088a on every part) fails the batch as a whole, retryable, naming extra_config.entity_set and quoting Dataverse; no row's outcome", async () => {
      const sent = rows(3);
      const misnamed = await failure(connector().deliver(context({ extra: { entity_set: 'msdyn_expense' } }), sent));
      expect(misnamed).toMatchObject({ kind: 'retryable', answered: [] });
      expect(misnamed.message).toBe(
        "extra_config.entity_set 'msdyn_expense' is not an entity set of this Dataverse environment (names are case-sensitive); " +
          "Dataverse answered HTTP 404 for all 3 requests of the batch: 0x8006088a Resource not found for the segment 'msdyn_expense'.",
      );
      // One request: the batch answered 200 with a 404 part per upsert, as Dataverse answers it.
      expect(batches().map((b) => b.answer)).toEqual([200]);
      expect(fake.table('msdyn_expense')).toEqual([]);
    });

    it('rows already answered in an earlier batch of the call keep their outcome; the failed batch’s rows have none', async () => {
      // The entity set is known for the first 100 rows' batch only: Dataverse then "loses" it (renamed by a solution upgrade).
      const sent = rows(101);
      let seen = 0;
      fake.refuseRows(() => ++seen > 100, "Resource not found for the segment 'msdyn_expenses'.", { status: 404, code: '0x8006088a' });
      const misnamed = await failure(connector().deliver(context(), sent));
      expect(misnamed.kind).toBe('retryable');
      expect(misnamed.message).toContain('extra_config.entity_set');
      expect(misnamed.answered).toHaveLength(100);
      expect(misnamed.answered.every((o) => o.status === 'delivered' && o.index < 100)).toBe(true);
    });

    it('a mistyped alternate_key (400 "The key in the request URI is not valid" on every part) fails the batch as a whole, naming extra_config.alternate_key', async () => {
      const misnamed = await failure(connector().deliver(context({ extra: { alternate_key: 'meander_ref' } }), rows(2)));
      expect(misnamed).toMatchObject({ kind: 'retryable', answered: [] });
      expect(misnamed.message).toMatch(
        /^extra_config\.alternate_key 'meander_ref' is not an alternate key of msdyn_expenses; Dataverse answered HTTP 400 for all 2 requests of the batch: /,
      );
      expect(misnamed.message).toContain("0x80060888 The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.msdyn_expenses'.");
      expect(fake.table(ENTITY_SET)).toEqual([]);
    });

    it("one part's 404 among others' successes stays that row's refusal; so do 404s that are no unknown name, and parts refused for different names", async () => {
      const notFound = part(404, '0x8006088a', "Resource not found for the segment 'things'.");
      const { dynamics, ctx } = scriptedConnector([
        tokenAnswer('opaque-token-3'),
        multipart(200, [NO_CONTENT, notFound, NO_CONTENT]),
        multipart(200, [part(404, '0x80040217', 'thing With Ids = 1 Does Not Exist'), part(404, '0x80040217', 'thing With Ids = 2 Does Not Exist')]),
        multipart(200, [notFound, part(400, '0x80060888', "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.thing'.")]),
      ]);
      const three = [0, 1, 2].map((index) => ({ index, reference: `r${index}`, output: {} }));
      expect(await dynamics.deliver(ctx, three)).toEqual([
        { index: 0, status: 'delivered', externalId: null },
        { index: 1, status: 'failed', error: "Resource not found for the segment 'things'." },
        { index: 2, status: 'delivered', externalId: null },
      ]);
      expect((await dynamics.deliver(ctx, three.slice(0, 2))).map((o) => o.status)).toEqual(['failed', 'failed']);
      expect((await dynamics.deliver(ctx, three.slice(0, 2))).map((o) => o.status)).toEqual(['failed', 'failed']);
    });

    it("404s on every part naming another set than the config's (a lookup's @odata.bind) stay each row's refusal", async () => {
      const lookup = part(404, '0x8006088a', "Resource not found for the segment 'contacts'.");
      const { dynamics, ctx } = scriptedConnector([tokenAnswer('opaque-token-9'), multipart(200, [lookup, lookup])]);
      const two = [0, 1].map((index) => ({ index, reference: `r${index}`, output: {} }));
      expect(await dynamics.deliver(ctx, two)).toEqual(two.map(({ index }) => ({ index, status: 'failed', error: "Resource not found for the segment 'contacts'." })));
    });

    it('throttled parts beside them do not make the refused ones rows’ refusals: the batch fails as a whole, after the throttled parts’ wait', async () => {
      const notFound = part(404, '0x8006088a', "Resource not found for the segment 'things'.");
      const throttled =
        'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json\r\n\r\n{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit."}}';
      const { dynamics, ctx } = scriptedConnector([tokenAnswer('opaque-token-8'), multipart(200, [throttled, notFound, notFound])]);
      const misnamed = await failure(
        dynamics.deliver(
          ctx,
          [0, 1, 2].map((index) => ({ index, reference: `r${index}`, output: {} })),
        ),
      );
      expect(misnamed).toMatchObject({ kind: 'retryable', retryAfterSeconds: 7, answered: [] });
      expect(misnamed.message).toContain("extra_config.entity_set 'things' is not an entity set of this Dataverse environment");
      expect(misnamed.message).toContain('HTTP 404 for 2 of 3 requests of the batch');
    });

    it("scrubs Dataverse's words of the secret and the token, as it does a row's refusal", async () => {
      const quoting = part(404, '0x8006088a', "Resource not found for the segment 'things' (secret-value, opaque-token-4).");
      const { dynamics, ctx } = scriptedConnector([tokenAnswer('opaque-token-4'), multipart(200, [quoting, quoting])]);
      const misnamed = await failure(
        dynamics.deliver(
          ctx,
          [0, 1].map((index) => ({ index, reference: `r${index}`, output: {} })),
        ),
      );
      expect(misnamed.message).toContain('extra_config.entity_set');
      expect(misnamed.message).not.toContain('secret-value');
      expect(misnamed.message).not.toContain('opaque-token-4');
    });
  });

  it('a batch that fails after others of the same call carries their outcomes too, and those of rows failed without a request', async () => {
    const sent = rows(101);
    sent[5].output = { ...sent[5].output, ContactId: 'not a guid' };
    fake.refuseRows((upsert) => upsert.key === keyOf(sent[100]), 'Service unavailable.', { status: 503 });
    const failed = await failure(connector().deliver(context(), sent));
    expect(failed.kind).toBe('retryable');
    const byIndex = new Map(failed.answered.map((o) => [o.index, o.status]));
    expect(byIndex.size).toBe(100);
    expect(byIndex.get(5)).toBe('failed');
    expect(byIndex.has(100)).toBe(false);
    expect(failed.answered.filter((o) => o.status === 'delivered')).toHaveLength(99);
  });

  it('credentials refused by the token endpoint: credentials_rejected, and not one request reaches the API', async () => {
    fake.rejectCredentials();
    const refused = await failure(connector().deliver(context(), rows(2)));
    expect(refused.kind).toBe('credentials_rejected');
    expect(refused.message).toContain('invalid_client');
    expect(fake.tokenRequests[0].answer).toBe(401);
    expect(fake.apiRequests).toEqual([]);

    const wrongTenant = await failure(connector().deliver(context({ credentials: { tenant_id: 'fabrikam.onmicrosoft.com' } }), rows(1)));
    expect(wrongTenant.kind).toBe('credentials_rejected');
    expect(fake.tokenRequests[1]).toMatchObject({ path: '/fabrikam.onmicrosoft.com/oauth2/v2.0/token', answer: 400 });
    expect(fake.apiRequests).toEqual([]);
  });

  it('a cached token the API refuses (401) is replaced once, at once: revoked before its expiry is not a credentials failure', async () => {
    const dynamics = connector();
    await dynamics.deliver(context(), rows(1));
    fake.revokeTokens();
    const outcomes = await dynamics.deliver(context(), rows(2));
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered']);
    expect(fake.tokenRequests).toHaveLength(2);
    expect(batches().map((b) => b.answer)).toEqual([200, 401, 200]);
  });

  it('asks the engine before each request after its first: a token fetched, the config disabled meanwhile, the batch is not sent', async () => {
    const { dynamics, sent, ctx } = scriptedConnector([tokenAnswer('opaque-token-1')]);
    const stopped = new DeliveryStopped('disabled_integration_must_not_sync');
    let asked = 0;
    const stopping: ConnectorContext = {
      ...ctx,
      beforeRequest: async () => {
        asked++;
        throw stopped;
      },
    };
    await expect(dynamics.deliver(stopping, [{ index: 0, reference: 'r0', output: {} }])).rejects.toBe(stopped);
    // Asked once, before the batch: not before the token request (the engine asked before deliver()).
    expect(asked).toBe(1);
    expect(sent.map((r) => r.url)).toEqual(['https://login.example/tenant/oauth2/v2.0/token']);
    expect(stopped.answered).toEqual([]);
  });

  it('a new token refused too (401: the app user removed from the environment, say) is credentials_rejected, after one new token, not more', async () => {
    const unauthorized: OutboundResponse = { status: 401, headers: {}, body: Buffer.from('') };
    const { dynamics, sent, ctx } = scriptedConnector([tokenAnswer('opaque-token-1'), unauthorized, tokenAnswer('opaque-token-2'), unauthorized]);
    const refused = await failure(dynamics.deliver(ctx, [{ index: 0, reference: 'r0', output: {} }]));
    expect(refused.kind).toBe('credentials_rejected');
    expect(sent.map((r) => [r.url, r.headers?.Authorization])).toEqual([
      ['https://login.example/tenant/oauth2/v2.0/token', undefined],
      ['https://org.example/api/data/v9.2/$batch', 'Bearer opaque-token-1'],
      ['https://login.example/tenant/oauth2/v2.0/token', undefined],
      ['https://org.example/api/data/v9.2/$batch', 'Bearer opaque-token-2'],
    ]);
  });

  it('a lost answer is retryable, and the repeat creates nothing twice', async () => {
    const sent = rows(3);
    fake.loseAnswerNext(1);
    const lost = await failure(connector().deliver(context(), sent));
    expect(lost.kind).toBe('retryable');
    // It was reached, and may have applied the batch: the error must not say it could not be reached.
    expect(lost.message).not.toMatch(/could not be reached/);
    expect(lost.message).toMatch(/^(Request to|The answer from) 127\.0\.0\.1:\d+ .* \(network\)$/);
    expect(batches()[0].answer).toBe('lost');
    expect(fake.table(ENTITY_SET)).toHaveLength(3);

    const outcomes = await connector().deliver(context(), sent);
    expect(outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(fake.table(ENTITY_SET).map((r) => [r.key, r.writes])).toEqual(sent.map((row) => [keyOf(row), 2]));
    expect(fake.createdCount).toBe(3);
  });

  it('escapes the alternate key: characters Dataverse cannot address by written _, a quote written twice, the rest percent-encoded', async () => {
    const references = ["meander:o'brien:1", 'meander:a/b?c#d%e f+g:2', "meander:æøå 'x'':3"];
    const sent = references.map((reference, index) => ({ index, reference, output: { ExpenseAmount: index } }));
    const outcomes = await connector().deliver(context(), sent);
    // Dataverse cannot address a record by a key holding / # < > * % & : \ ? +: each is written _.
    expect(fake.table(ENTITY_SET).map((r) => r.key)).toEqual(["meander_o'brien_1", 'meander_a_b_c_d_e f_g_2', "meander_æøå 'x''_3"]);
    expect(batches()[0].body).toContain(`${ENTITY_SET}(${KEY}='meander_o''brien_1') HTTP/1.1`);
    expect(batches()[0].body).toContain(`${ENTITY_SET}(${KEY}='meander_a_b_c_d_e%20f_g_2') HTTP/1.1`);
    expect(outcomes[0]).toMatchObject({ externalId: `${KEY}='meander_o''brien_1'` });
  });

  it('never puts the secret or a token in what it throws, even when Dataverse quotes them', async () => {
    const dynamics = connector();
    await dynamics.deliver(context(), rows(1));
    const token = /^Bearer (.+)$/.exec(String(fake.apiRequests[0].headers.authorization))?.[1] as string;
    fake.refuseRows(() => true, `Upstream failure for client_secret ${SECRET} and Authorization: Bearer ${token} (${encodeURIComponent(token)})`, { status: 503 });
    const failed = await failure(dynamics.deliver(context(), rows(1)));
    expect(failed.kind).toBe('retryable');
    expect(failed.message).toContain('503');
    expect(failed.message).not.toContain(SECRET);
    expect(failed.message).not.toContain(token);
  });

  it('hlf_portal takes the tenant from extra_config.tenant_id, dynamics from the credentials', async () => {
    const portal = connector('hlf_portal');
    expect(portal.integrationType).toBe('hlf_portal');
    const portalContext = context({ type: 'hlf_portal', credentials: { tenant_id: 'not-this-one.onmicrosoft.com' } });
    expect((await portal.deliver(portalContext, rows(1)))[0].status).toBe('delivered');
    expect(fake.tokenRequests.map((r) => r.path)).toEqual([`/${TENANT}/oauth2/v2.0/token`]);

    const dynamicsContext = context({ extra: { tenant_id: 'not-this-one.onmicrosoft.com' } });
    expect((await connector('dynamics').deliver(dynamicsContext, rows(1)))[0].status).toBe('delivered');
    expect(fake.tokenRequests.map((r) => r.path)).toEqual([`/${TENANT}/oauth2/v2.0/token`, `/${TENANT}/oauth2/v2.0/token`]);

    const noTenant = await failure(portal.deliver(context({ type: 'hlf_portal', extra: { tenant_id: undefined }, credentials: { tenant_id: TENANT } }), rows(1)));
    expect(noTenant.message).toContain('extra_config.tenant_id');
    expect(fake.requests).toHaveLength(4);
  });

  it('an incomplete config fails before anything is sent, naming what is missing', async () => {
    expect((await failure(connector().deliver(context({ extra: { entity_set: undefined } }), rows(1)))).message).toContain('extra_config.entity_set');
    expect((await failure(connector().deliver(context({ extra: { alternate_key: 'x)/../y' } }), rows(1)))).message).toContain('plain names');
    expect((await failure(connector().deliver(context({ credentials: { client_secret: null } }), rows(1)))).message).toContain('client_secret');
    expect(fake.requests).toEqual([]);
  });

  it('sends rows in batches of at most 100 (a batch runs its upserts one by one: 1,000 could outlast the 30 s timeout), under one token', async () => {
    const dynamics = connector();
    expect(dynamics.maxBatchSize).toBe(100);
    const outcomes = await dynamics.deliver(context(), rows(201));
    expect(outcomes).toHaveLength(201);
    expect(outcomes.every((o) => o.status === 'delivered')).toBe(true);
    expect(batches().map((r) => parseBatchRequest(String(r.headers['content-type']), r.body).length)).toEqual([100, 100, 1]);
    expect(fake.tokenRequests).toHaveLength(1);
    expect(fake.table(ENTITY_SET)).toHaveLength(201);
  });

  it('an egress refusal is passed on as it is, and nothing is sent (token endpoint included)', async () => {
    const guarded = new OutboundClient({ policy: { allowPrivate: false }, ca: [fake.ca] });
    try {
      const dynamics = new DynamicsConnector('dynamics', guarded, { authorityUrl: fake.authorityUrl });
      await expect(dynamics.deliver(context(), rows(1))).rejects.toBeInstanceOf(EgressRefused);
      await expect(dynamics.testConnection(context())).rejects.toBeInstanceOf(EgressRefused);
      expect(fake.requests).toEqual([]);
    } finally {
      guarded.close();
    }
  });

  describe('connection test', () => {
    it('gets a token and makes one read-only WhoAmI call, with no claim data, while the config names no table', async () => {
      await connector().testConnection(context({ extra: { entity_set: undefined, alternate_key: undefined } }));
      expect(fake.requests.map((r) => [r.kind, r.method, r.path, r.answer])).toEqual([
        ['token', 'POST', `/${TENANT}/oauth2/v2.0/token`, 200],
        ['api', 'GET', '/api/data/v9.2/WhoAmI', 200],
      ]);
      expect(fake.apiRequests[0].body).toBe('');
    });

    it("reads the config's table instead (one record at most, the key column only), so a mistyped entity_set or alternate_key shows here", async () => {
      await connector().testConnection(context());
      expect(fake.requests.map((r) => [r.kind, r.method, r.path, r.answer])).toEqual([
        ['token', 'POST', `/${TENANT}/oauth2/v2.0/token`, 200],
        ['api', 'GET', `/api/data/v9.2/${ENTITY_SET}?$select=${KEY}&$top=1`, 200],
      ]);
      expect(fake.apiRequests[0].body).toBe('');

      const wrongSet = await failure(connector().testConnection(context({ extra: { entity_set: 'msdyn_expense' } })));
      expect(wrongSet).toMatchObject({ kind: 'retryable' });
      expect(wrongSet.message).toBe(
        "extra_config.entity_set 'msdyn_expense' is not an entity set of this Dataverse environment (names are case-sensitive); " +
          "Dataverse answered the read of msdyn_expense with HTTP 404: 0x8006088a Resource not found for the segment 'msdyn_expense'.",
      );

      const typed = await startDataverseFake({
        tenant: TENANT,
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        entitySets: { [ENTITY_SET]: KEY },
        columns: { [ENTITY_SET]: { [KEY]: 'string', msdyn_amount: 'money' } },
      });
      const typedHttp = new OutboundClient({ policy: { allowPrivate: true }, ca: [typed.ca] });
      try {
        const typedConnector = new DynamicsConnector('dynamics', typedHttp, { authorityUrl: typed.authorityUrl });
        const typedContext = (alternateKey: string) => {
          const base = context({ extra: { alternate_key: alternateKey } });
          return { ...base, config: { ...base.config, base_url: typed.url } };
        };
        await typedConnector.testConnection(typedContext(KEY));
        const wrongKey = await failure(typedConnector.testConnection(typedContext('meander_ref')));
        expect(wrongKey.kind).toBe('retryable');
        expect(wrongKey.message).toBe(
          "extra_config.alternate_key 'meander_ref' is not a column of msdyn_expenses; " +
            "Dataverse answered the read of msdyn_expenses with HTTP 400: 0x0 Could not find a property named 'meander_ref' on type 'Microsoft.Dynamics.CRM.msdyn_expenses'.",
        );
        expect(typed.apiRequests.map((r) => r.answer)).toEqual([200, 400]);
      } finally {
        typedHttp.close();
        await typed.close();
      }
    });

    it("names a missing privilege on the table in Dataverse's words (403 0x80040220), not as refused credentials", async () => {
      const privilege = 'Principal user (Id=…, type=8) is missing prvReadthing privilege (Id=…) on OTC=10048.';
      const { dynamics, ctx } = scriptedConnector([tokenAnswer('opaque-token-5'), part403('0x80040220', privilege)]);
      const refused = await failure(dynamics.testConnection(ctx));
      expect(refused.kind).toBe('retryable');
      expect(refused.message).toBe(`Dataverse refused the read of things: the application user lacks a privilege (HTTP 403: 0x80040220 ${privilege})`);
      // Any other 403 (an application user not in the environment) is the credentials, as before.
      const other = scriptedConnector([tokenAnswer('opaque-token-6'), part403('0x80072560', 'The user is not a member of the organization.')]);
      expect((await failure(other.dynamics.testConnection(other.ctx))).kind).toBe('credentials_rejected');
    });

    it('reports refused credentials', async () => {
      fake.rejectCredentials();
      expect((await failure(connector().testConnection(context()))).kind).toBe('credentials_rejected');
      expect(fake.apiRequests).toEqual([]);
    });

    it('authenticates for real: a new token every time, replacing the cached one; a secret revoked since fails it', async () => {
      const dynamics = connector();
      await dynamics.deliver(context(), rows(1));
      await dynamics.testConnection(context());
      expect(fake.tokenRequests).toHaveLength(2);
      const [, read] = fake.apiRequests;
      const fresh = read.headers.authorization;
      expect(fresh).not.toBe(fake.apiRequests[0].headers.authorization);
      // The new token is the one deliveries use now.
      await dynamics.deliver(context(), rows(1));
      expect(fake.tokenRequests).toHaveLength(2);
      expect(fake.apiRequests[2].headers.authorization).toBe(fresh);

      // Revoked at Microsoft: the cached token still works, the test says no, and the cached token goes.
      fake.rejectCredentials();
      const refused = await failure(dynamics.testConnection(context()));
      expect(refused.kind).toBe('credentials_rejected');
      expect(refused.message).toContain('invalid_client');
      expect(fake.apiRequests).toHaveLength(3);
      expect((await failure(dynamics.deliver(context(), rows(1)))).kind).toBe('credentials_rejected');
      expect(fake.tokenRequests.map((r) => r.answer)).toEqual([200, 200, 401, 401]);
    });

    it('reports a token the API refuses (401/403: no application user in the environment), on WhoAmI or the table read', async () => {
      for (const extra of [{ entity_set: undefined, alternate_key: undefined }, {}]) {
        for (const status of [401, 403]) {
          const { dynamics } = scriptedConnector([tokenAnswer('opaque-token-2'), { status, headers: {}, body: Buffer.alloc(0) }]);
          const refused = await failure(dynamics.testConnection(context({ extra })));
          expect(refused.kind).toBe('credentials_rejected');
          expect(refused.message).toContain(`HTTP ${status}`);
        }
      }
    });

    it('reports throttling with its Retry-After', async () => {
      fake.throttleNext(1, 30);
      expect(await failure(connector().testConnection(context()))).toMatchObject({ kind: 'retryable', retryAfterSeconds: 30 });
    });
  });
});

describe('when Dataverse stops at a refused request (no continue-on-error)', () => {
  // Microsoft: without the preference the batch answers 400 and holds the responses up to the
  // first failure; the rows after it were never processed and go again.
  it('fails that row and sends the rest again', async () => {
    const { dynamics, sent, ctx } = scriptedConnector([
      tokenAnswer('opaque-token-1'),
      multipart(400, [
        'HTTP/1.1 204 No Content\r\nOData-EntityId: https://org.example/api/data/v9.2/things(5ab0c2a1-0000-4000-8000-000000000001)\r\n\r\n',
        'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{"error":{"code":"0x80044331","message":"A validation error occurred."}}',
      ]),
      multipart(200, ['HTTP/1.1 204 No Content\r\n\r\n']),
    ]);
    const outcomes = await dynamics.deliver(ctx, [
      { index: 0, reference: 'r0', output: {} },
      { index: 1, reference: 'r1', output: {} },
      { index: 2, reference: 'r2', output: {} },
    ]);
    expect(outcomes).toEqual([
      { index: 0, status: 'delivered', externalId: '5ab0c2a1-0000-4000-8000-000000000001' },
      { index: 1, status: 'failed', error: 'A validation error occurred.' },
      { index: 2, status: 'delivered', externalId: null },
    ]);
    expect(sent.map((r) => r.url)).toEqual([
      'https://login.example/tenant/oauth2/v2.0/token',
      'https://org.example/api/data/v9.2/$batch',
      'https://org.example/api/data/v9.2/$batch',
    ]);
    expect(String(sent[2].body)).toContain("things(ref='r2')");
    expect(String(sent[2].body)).not.toContain("things(ref='r1')");
  });

  it('a refused first request for an unknown entity set is the config, not that row: nothing after it ran', async () => {
    const { dynamics, ctx } = scriptedConnector([tokenAnswer('opaque-token-7'), multipart(400, [part(404, '0x8006088a', "Resource not found for the segment 'things'.")])]);
    const misnamed = await failure(
      dynamics.deliver(
        ctx,
        [0, 1, 2].map((index) => ({ index, reference: `r${index}`, output: {} })),
      ),
    );
    expect(misnamed).toMatchObject({ kind: 'retryable', answered: [] });
    expect(misnamed.message).toContain("extra_config.entity_set 'things'");
  });
});

describe('reading Dataverse headers', () => {
  it('takes the id in OData-EntityId’s parentheses: a GUID, or the alternate key an upsert named', () => {
    expect(entityIdOf('https://org.example/api/data/v9.2/tasks(d31ba648-c592-ed11-aad1-000d3a993550)')).toBe('d31ba648-c592-ed11-aad1-000d3a993550');
    expect(entityIdOf("https://org.example/api/data/v9.2/things(ref='a(b)c')")).toBe("ref='a(b)c'");
    expect(entityIdOf("https://org.example/api/data/v9.2/things(ref='a%2Fb')")).toBe("ref='a/b'");
    expect(entityIdOf(undefined)).toBeNull();
    expect(entityIdOf('https://org.example/nothing')).toBeNull();
  });
});
