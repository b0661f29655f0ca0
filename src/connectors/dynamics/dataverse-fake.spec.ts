// The fake Dataverse behaves as Microsoft documents it where our connector does not go: without
// continue-on-error, change sets, conditional upserts, the batch limit, the token checks.
import { startDataverseFake, type DataverseFake, type DataverseFakeOptions } from '../../../test/support/fakes/dataverse-fake';
import { OutboundClient, type OutboundResponse } from '../../egress/outbound-http';
import { buildBatchRequest, parseBatchResponse } from './odata-batch';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_ID = 'f0b6e3a1-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
const SECRET = 'fake-secret-value-0123456789';

let fake: DataverseFake;
let http: OutboundClient;
let token: string;

beforeEach(async () => {
  fake = await startDataverseFake({ tenant: TENANT, clientId: CLIENT_ID, clientSecret: SECRET });
  http = new OutboundClient({ policy: { allowPrivate: true }, ca: [fake.ca] });
  const answer = await requestToken(`${fake.url}/.default`);
  token = (JSON.parse(answer.body.toString()) as { access_token: string }).access_token;
});

afterEach(async () => {
  http.close();
  await fake.close();
});

function requestToken(scope: string, secret = SECRET, from: DataverseFake = fake): Promise<OutboundResponse> {
  return http.request({
    url: `${from.authorityUrl}/${TENANT}/oauth2/v2.0/token`,
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: secret, scope }).toString(),
  });
}

function api(method: 'GET' | 'POST' | 'PATCH', path: string, body?: string, headers: Record<string, string> = {}): Promise<OutboundResponse> {
  return http.request({ url: `${fake.url}/api/data/v9.2/${path}`, method, headers: { Authorization: `Bearer ${token}`, ...headers }, body });
}

type Answered = { status: number; code?: string; message?: string };

/** A fake started with `options` (entity sets, lookups, columns), for `work` with a PATCH and a $batch on it as its token; closed after. */
async function withConfiguredFake(
  options: Pick<DataverseFakeOptions, 'entitySets' | 'lookups' | 'columns' | 'logicalNames'>,
  work: (
    configured: DataverseFake,
    patch: (path: string, body: object) => Promise<Answered>,
    batch: (upserts: [path: string, body: object][]) => Promise<Answered[]>,
  ) => Promise<void>,
): Promise<void> {
  const configured = await startDataverseFake({ tenant: TENANT, clientId: CLIENT_ID, clientSecret: SECRET, ...options });
  try {
    const answer = await requestToken(`${configured.url}/.default`, SECRET, configured);
    const bearer = (JSON.parse(answer.body.toString()) as { access_token: string }).access_token;
    const errorOf = (body: string): Omit<Answered, 'status'> => {
      if (!body) return {};
      const error = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
      return { code: error?.code, message: error?.message };
    };
    await work(
      configured,
      async (path, body) => {
        const response = await http.request({
          url: `${configured.url}/api/data/v9.2/${path}`,
          method: 'PATCH',
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: response.status, ...errorOf(response.body.toString()) };
      },
      async (upserts) => {
        const { contentType, body } = buildBatchRequest(
          upserts.map(([path, value]) => ({
            method: 'PATCH',
            url: `${configured.url}/api/data/v9.2/${path}`,
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(value),
          })),
        );
        const response = await http.request({
          url: `${configured.url}/api/data/v9.2/$batch`,
          method: 'POST',
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': contentType, Prefer: 'odata.continue-on-error' },
          body,
        });
        expect(response.status).toBe(200);
        return parts(response).map((part) => ({ status: part.status, ...errorOf(part.body) }));
      },
    );
  } finally {
    await configured.close();
  }
}

function upsert(key: string, body: object) {
  return { method: 'PATCH', url: `${fake.url}/api/data/v9.2/things(ref='${key}')`, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}

function parts(answer: OutboundResponse) {
  return parseBatchResponse(String(answer.headers['content-type']), answer.body);
}

describe('the fake Dataverse', () => {
  it('issues tokens only for the right secret and scope, in the documented shapes', async () => {
    const wrongSecret = await requestToken(`${fake.url}/.default`, 'not-the-secret');
    expect(wrongSecret.status).toBe(401);
    expect(JSON.parse(wrongSecret.body.toString())).toMatchObject({
      error: 'invalid_client',
      error_codes: [7000215],
      error_description: expect.stringMatching(/^AADSTS7000215: /),
    });
    const wrongScope = await requestToken('https://other.example/.default');
    expect(wrongScope.status).toBe(400);
    expect(JSON.parse(wrongScope.body.toString())).toMatchObject({ error: 'invalid_scope', error_codes: [70011] });
    const good = JSON.parse((await requestToken(`${fake.url}/.default`)).body.toString());
    expect(good).toMatchObject({ token_type: 'Bearer', expires_in: 3599, access_token: expect.any(String) });
    expect(fake.tokenRequests).toHaveLength(4);
  });

  it('answers 401 with a bearer challenge naming the tenant when the token is missing or unknown', async () => {
    const answer = await http.request({ url: `${fake.url}/api/data/v9.2/WhoAmI`, method: 'GET', headers: { Authorization: 'Bearer nope' } });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toContain(`authorization_uri=${fake.url}/${TENANT}/oauth2/authorize`);
    expect((await api('GET', 'WhoAmI()')).status).toBe(200);
  });

  it('without continue-on-error stops at the first refused request and answers 400', async () => {
    fake.refuseRows((u) => u.key === 'b', 'Refused.');
    const { contentType, body } = buildBatchRequest([upsert('a', { n: 1 }), upsert('b', { n: 2 }), upsert('c', { n: 3 })]);
    const answer = await api('POST', '$batch', body, { 'Content-Type': contentType });
    expect(answer.status).toBe(400);
    expect(parts(answer).map((p) => p.status)).toEqual([204, 400]);
    expect(fake.table('things').map((r) => r.key)).toEqual(['a']);
  });

  it('with continue-on-error answers 200, one part per request, and says the preference applied', async () => {
    fake.refuseRows((u) => u.key === 'b', 'Refused.');
    const { contentType, body } = buildBatchRequest([upsert('a', { n: 1 }), upsert('b', { n: 2 }), upsert('c', { n: 3 })]);
    const answer = await api('POST', '$batch', body, { 'Content-Type': contentType, Prefer: 'odata.continue-on-error' });
    expect(answer.status).toBe(200);
    expect(answer.headers['preference-applied']).toBe('odata.continue-on-error');
    const answered = parts(answer);
    expect(answered.map((p) => p.status)).toEqual([204, 400, 204]);
    expect(JSON.parse(answered[1].body)).toEqual({ error: { code: '0x80044331', message: 'Refused.' } });
    expect(answered[2].headers['odata-entityid']).toBe(`${fake.url}/api/data/v9.2/things(ref='c')`);
  });

  it('gives each throttled part its own Retry-After when told to', async () => {
    fake.throttleNext(1, 7, { inBatch: true, parts: (u) => u.key !== 'a', retryAfterOf: (u) => (u.key === 'b' ? 2 : 9) });
    const { contentType, body } = buildBatchRequest(['a', 'b', 'c'].map((key) => upsert(key, { n: 1 })));
    const answered = parts(await api('POST', '$batch', body, { 'Content-Type': contentType, Prefer: 'odata.continue-on-error' }));
    expect(answered.map((p) => [p.status, p.headers['retry-after']])).toEqual([
      [204, undefined],
      [429, '2'],
      [429, '9'],
    ]);
  });

  it('throttles chosen parts of a batch (429 + Retry-After, nothing applied) or refuses them 403, and goes on with the others', async () => {
    fake.throttleNext(1, 7, { inBatch: true, parts: (u) => u.key === 'b' || u.key === 'd' });
    fake.refuseRows((u) => u.key === 'c', 'Principal user is missing prvWritething privilege.', { status: 403, code: '0x80040220' });
    const { contentType, body } = buildBatchRequest(['a', 'b', 'c', 'd', 'e'].map((key) => upsert(key, { n: 1 })));
    const answer = await api('POST', '$batch', body, { 'Content-Type': contentType, Prefer: 'odata.continue-on-error' });
    expect(answer.status).toBe(200);
    const answered = parts(answer);
    expect(answered.map((p) => p.status)).toEqual([204, 429, 403, 429, 204]);
    expect(answered[1].headers['retry-after']).toBe('7');
    expect(JSON.parse(answered[3].body)).toMatchObject({ error: { code: '0x80072322' } });
    expect(JSON.parse(answered[2].body)).toEqual({ error: { code: '0x80040220', message: 'Principal user is missing prvWritething privilege.' } });
    expect(fake.table('things').map((r) => r.key)).toEqual(['a', 'e']);

    // Only the next batch: the one after is applied in full.
    const again = buildBatchRequest(['b', 'd'].map((key) => upsert(key, { n: 2 })));
    expect(parts(await api('POST', '$batch', again.body, { 'Content-Type': again.contentType, Prefer: 'odata.continue-on-error' })).map((p) => p.status)).toEqual([204, 204]);
    expect(fake.table('things').map((r) => [r.key, r.writes])).toEqual([
      ['a', 1],
      ['e', 1],
      ['b', 1],
      ['d', 1],
    ]);
  });

  it('applies a change set all or nothing, echoing Content-IDs', async () => {
    const changeset = (keys: string[]) =>
      [
        '--batch_1',
        'Content-Type: multipart/mixed; boundary=changeset_1',
        '',
        ...keys.flatMap((key, i) => [
          '--changeset_1',
          'Content-Type: application/http',
          'Content-Transfer-Encoding: binary',
          `Content-ID: ${i + 1}`,
          '',
          `PATCH /api/data/v9.2/things(ref='${key}') HTTP/1.1`,
          'Content-Type: application/json',
          '',
          '{"n":1}',
        ]),
        '--changeset_1--',
        '--batch_1--',
        '',
      ].join('\r\n');
    const ok = await api('POST', '$batch', changeset(['a', 'b']), { 'Content-Type': 'multipart/mixed; boundary=batch_1' });
    expect(parts(ok).map((p) => [p.status, p.contentId])).toEqual([
      [204, '1'],
      [204, '2'],
    ]);
    fake.refuseRows((u) => u.key === 'd', 'Refused.');
    const refused = await api('POST', '$batch', changeset(['c', 'd']), { 'Content-Type': 'multipart/mixed; boundary=batch_1', Prefer: 'odata.continue-on-error' });
    expect(parts(refused).map((p) => [p.status, p.contentId])).toEqual([[400, '2']]);
    expect(fake.table('things').map((r) => r.key)).toEqual(['a', 'b']);
  });

  it('upserts: creates once, then updates; If-Match: * never creates, If-None-Match: * never updates', async () => {
    expect((await api('PATCH', "things(ref='x')", '{"n":1}', { 'Content-Type': 'application/json' })).status).toBe(204);
    expect((await api('PATCH', "things(ref='x')", '{"n":2,"ref":"ignored on update"}', { 'Content-Type': 'application/json' })).status).toBe(204);
    expect(fake.table('things')).toEqual([{ id: expect.any(String), key: 'x', values: { ref: 'x', n: 2 }, writes: 2 }]);
    expect((await api('PATCH', "things(ref='y')", '{"n":1}', { 'Content-Type': 'application/json', 'If-Match': '*' })).status).toBe(404);
    expect((await api('PATCH', "things(ref='x')", '{"n":3}', { 'Content-Type': 'application/json', 'If-None-Match': '*' })).status).toBe(412);
    expect(fake.createdCount).toBe(1);
  });

  it("cannot address a record by a key value holding one of / # < > * % & : \\ ? + (Microsoft's list), on the URL or in a batch", async () => {
    const json = { 'Content-Type': 'application/json' };
    const refused = await api('PATCH', "things(ref='meander:run:0')", '{"n":1}', json);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body.toString()).error.message).toBe('A potentially dangerous Request.Path value was detected from the client (:).');
    for (const character of ['/', '#', '<', '>', '*', '%', '&', '\\', '?', '+']) {
      expect([character, (await api('PATCH', `things(ref='a${encodeURIComponent(character)}b')`, '{}', json)).status]).toEqual([character, 400]);
    }
    const { contentType, body } = buildBatchRequest([upsert('meander:run:1', {}), upsert('meander_run_1', {})]);
    const answer = await api('POST', '$batch', body, { 'Content-Type': contentType, Prefer: 'odata.continue-on-error' });
    expect(parts(answer).map((part) => part.status)).toEqual([400, 204]);
    expect(fake.table('things').map((record) => record.key)).toEqual(['meander_run_1']);
  });

  it('refuses a batch of more than 1,000 requests, and an unknown entity set or key when told its keys', async () => {
    const { contentType, body } = buildBatchRequest(Array.from({ length: 1001 }, (_, i) => upsert(`k${i}`, {})));
    expect((await api('POST', '$batch', body, { 'Content-Type': contentType })).status).toBe(400);
    expect(fake.table('things')).toEqual([]);

    await withConfiguredFake({ entitySets: { things: 'ref' }, logicalNames: { things: 'thing' } }, async (_configured, patch, batch) => {
      // Microsoft's troubleshooting page: a case-sensitive name it does not know, 404 0x8006088a.
      const unknownSet = { status: 404, code: '0x8006088a', message: "Resource not found for the segment 'Things'." };
      expect(await patch("Things(ref='a')", {})).toEqual(unknownSet);
      // Microsoft's alternate-key page gives the message; status and code as public projects recorded them.
      const wrongKey = {
        status: 400,
        code: '0x80060888',
        message:
          "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.thing'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource 'Microsoft.Dynamics.CRM.thing'.",
      };
      expect(await patch("things(name='a')", {})).toEqual(wrongKey);
      // Inside a $batch: the same answer for each request, the batch itself 200.
      expect(
        await batch([
          ["Things(ref='a')", {}],
          ["Things(ref='b')", {}],
        ]),
      ).toEqual([unknownSet, unknownSet]);
      expect(
        await batch([
          ["things(name='a')", {}],
          ["things(name='b')", {}],
        ]),
      ).toEqual([wrongKey, wrongKey]);
    });
  });

  it('reads a collection (GET set?$select=…&$top=n) with the primary key; an unknown set is 404, an undeclared column in $select 400', async () => {
    await withConfiguredFake(
      { entitySets: { things: 'ref' }, columns: { things: { ref: 'string', n: 'integer' } }, logicalNames: { things: 'thing' } },
      async (configured, patch) => {
        await patch("things(ref='a')", { n: 1 });
        await patch("things(ref='b')", { n: 2 });
        const bearer = configured.apiRequests[0].headers.authorization as string;
        const get = async (path: string) => {
          const response = await http.request({ url: `${configured.url}/api/data/v9.2/${path}`, method: 'GET', headers: { Authorization: bearer } });
          return { status: response.status, body: JSON.parse(response.body.toString()) as Record<string, unknown> };
        };
        const read = await get('things?$select=ref&$top=1');
        expect(read.status).toBe(200);
        expect(read.body.value).toEqual([{ '@odata.etag': expect.any(String), ref: 'a', thingid: configured.table('things')[0].id }]);
        expect(await get('Things?$select=ref&$top=1')).toEqual({ status: 404, body: { error: { code: '0x8006088a', message: "Resource not found for the segment 'Things'." } } });
        expect(await get('things?$select=Ref&$top=1')).toEqual({
          status: 400,
          body: { error: { code: '0x0', message: "Could not find a property named 'Ref' on type 'Microsoft.Dynamics.CRM.thing'." } },
        });
      },
    );
  });

  it('takes a lookup only as a binding to its entity set, as the OData reader does', async () => {
    await withConfiguredFake({ entitySets: { things: 'ref' }, lookups: { things: { owner: 'contacts' } } }, async (configured, patchPath) => {
      const patch = (key: string, body: object) => patchPath(`things(ref='${key}')`, body);
      const id = '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f';
      expect(await patch('a', { owner: id })).toMatchObject({ status: 400, code: '0x80048d19', message: expect.stringContaining("'PrimitiveValue' node with non-null value") });
      expect(await patch('b', { 'other@odata.bind': `/contacts(${id})` })).toMatchObject({ status: 400, message: expect.stringContaining("undeclared property 'other'") });
      expect(await patch('c', { 'owner@odata.bind': `/accounts(${id})` })).toMatchObject({ status: 400 });
      expect(await patch('d', { 'owner@odata.bind': `/contacts(${id})` })).toEqual({ status: 204 });
      expect(configured.table('things').map((r) => r.values)).toEqual([{ ref: 'd', _owner_value: id }]);
    });
  });

  it('refuses a property the entity type does not declare as Dataverse does (400, 0x80048d19, payload error), in a batch part too; a set without columns takes anything', async () => {
    const columns = { things: { ref: 'string', amount: 'money', day: 'date', note: 'string' } } as const;
    await withConfiguredFake({ columns, logicalNames: { things: 'thing' } }, async (configured, patch, batch) => {
      const refused = await patch("things(ref='a')", { amount: 1, amunt: 2 });
      expect(refused).toEqual({
        status: 400,
        code: '0x80048d19',
        message:
          "Error identified in Payload provided by the user for Entity :'things', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : " +
          "Microsoft.Crm.CrmException: Invalid property 'amunt' was found in entity 'Microsoft.Dynamics.CRM.thing'. ---> Microsoft.OData.ODataException: The property 'amunt' does not exist on type 'Microsoft.Dynamics.CRM.thing'. Make sure to only use property names that are defined by the type.",
      });
      // Property names are case sensitive.
      expect(await patch("things(ref='a')", { Amount: 1 })).toMatchObject({ status: 400, message: expect.stringContaining("Invalid property 'Amount'") });

      // With continue-on-error the refused part is one 400 and the others are carried out.
      const answered = await batch([
        ["things(ref='b')", { amount: 1.5, day: '2026-11-20', note: null }],
        ["things(ref='c')", { amount: 2, notes: 'x' }],
        ["things(ref='d')", { note: 'kept' }],
      ]);
      expect(answered.map((a) => [a.status, a.code])).toEqual([
        [204, undefined],
        [400, '0x80048d19'],
        [204, undefined],
      ]);
      expect(answered[1].message).toContain("The property 'notes' does not exist on type 'Microsoft.Dynamics.CRM.thing'.");
      expect(configured.table('things').map((r) => r.key)).toEqual(['b', 'd']);

      // No columns given for this set: as lenient as before.
      expect(await patch("others(ref='x')", { anything: { at: 'all' } })).toEqual({ status: 204 });
    });
  });

  it('reads values as its OData reader does: a value its column type cannot read is refused with the literal and the type', async () => {
    const columns = { things: { ref: 'string', amount: 'money', count: 'integer', day: 'date', note: 'string', done: 'boolean' } } as const;
    await withConfiguredFake({ columns }, async (configured, patch) => {
      const cannot = (literal: string, type: string, cause = '') =>
        `InnerException : Microsoft.OData.ODataException: Cannot convert the literal '${literal}' to the expected type '${type}'.${cause ? ` ---> ${cause}` : ''}`;
      const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const refusal = async (body: object) => {
        const answer = await patch("things(ref='refused')", body);
        expect(answer).toMatchObject({ status: 400, code: '0x80048d19' });
        return answer.message;
      };
      expect(await refusal({ amount: 'twelve' })).toMatch(
        new RegExp(
          `^Error identified in Payload provided by the user for Entity :'things', .*  ---->  ${escape(cannot('twelve', 'Edm.Decimal', 'System.FormatException: Input string was not in a correct format.'))}$`,
        ),
      );
      expect(await refusal({ day: '20.11.2026' })).toContain(
        cannot('20.11.2026', 'Edm.Date', "System.FormatException: String '20.11.2026' was not recognized as a valid Edm.Date."),
      );
      expect(await refusal({ day: '2026-02-30' })).toContain(
        cannot('2026-02-30', 'Edm.Date', "System.FormatException: String '2026-02-30' was not recognized as a valid Edm.Date."),
      );
      expect(await refusal({ note: 5 })).toContain(cannot('5', 'Edm.String'));
      expect(await refusal({ count: 1.5 })).toContain(cannot('1.5', 'Edm.Int32'));
      expect(await refusal({ done: 'yes' })).toContain(cannot('yes', 'Edm.Boolean', 'System.FormatException: String was not recognized as a valid Boolean.'));
      expect(await refusal({ amount: true })).toContain(cannot('True', 'Edm.Decimal'));
      expect(await refusal({ note: { text: 'x' } })).toContain("An unexpected 'StartObject' node was found");
      expect(configured.table('things')).toEqual([]);

      // What .NET reads from text is taken: a number as a string (with thousands separators: invariant culture), an ISO date, null.
      expect(await patch("things(ref='ok')", { amount: '1,234.00', count: '42', day: '2026-11-20', note: null, done: 'True' })).toEqual({ status: 204 });
      expect(await patch("things(ref='ok')", { amount: 107.25, count: -3 })).toEqual({ status: 204 });
      expect(configured.table('things').map((r) => r.writes)).toEqual([2]);
    });
  });
});
