import fc from 'fast-check';
import { encodeBatchResponse, parseBatchRequest, parseKeyAddress, type FakeResponseItem, type FakeResponsePart } from '../../../test/support/fakes/dataverse-fake';
import { BatchFormatError, boundaryOf, buildBatchRequest, encodeKeySegment, odataStringLiteral, parseBatchResponse, type BatchResponsePart } from './odata-batch';

// Laid out as Microsoft's "Execute batch operations using the Web API" shows answers: LF line
// ends, blank lines after a bodiless 204, the answer's own boundary.
const CONTINUE_ON_ERROR_ANSWER = [
  '--batchresponse_5d1f0c2e-aaaa-4bbb-8ccc-000000000001',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  '',
  'HTTP/1.1 400 Bad Request',
  'REQ_ID: 11111111-2222-3333-4444-555555555555',
  'Content-Type: application/json; odata.metadata=minimal',
  'OData-Version: 4.0',
  '',
  '{"error":{"code":"0x80044331","message":"A validation error occurred.  The length of the \'subject\' attribute exceeded 200."}}',
  '--batchresponse_5d1f0c2e-aaaa-4bbb-8ccc-000000000001',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  '',
  'HTTP/1.1 204 No Content',
  'OData-Version: 4.0',
  'OData-EntityId: https://org.example.crm4.dynamics.com/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)',
  '',
  '',
  '--batchresponse_5d1f0c2e-aaaa-4bbb-8ccc-000000000001--',
  '',
].join('\n');

// A change set's members without the blank line before the next delimiter, as in Microsoft's
// change-set sample.
const CHANGESET_ANSWER = [
  '--batchresponse_b1',
  'Content-Type: multipart/mixed; boundary=changesetresponse_c1',
  '',
  '--changesetresponse_c1',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  'Content-ID: 1',
  '',
  'HTTP/1.1 204 No Content',
  'OData-Version: 4.0',
  'Location:https://org.example/api/data/v9.2/leads(425195a4-7a75-e911-a97a-000d3a34a1bd)',
  '--changesetresponse_c1',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  'Content-ID: 2',
  '',
  'HTTP/1.1 204 No Content',
  'OData-Version: 4.0',
  '',
  '--changesetresponse_c1--',
  '--batchresponse_b1',
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  '',
  'HTTP/1.1 200 OK',
  'Content-Type: application/json; odata.metadata=minimal; odata.streaming=true',
  '',
  '{"value":[]}',
  '--batchresponse_b1--',
].join('\n');

describe('parsing a $batch answer', () => {
  it('reads each response in order: status, headers, body (LF line ends, blank lines after a 204)', () => {
    const parts = parseBatchResponse('multipart/mixed; boundary=batchresponse_5d1f0c2e-aaaa-4bbb-8ccc-000000000001', CONTINUE_ON_ERROR_ANSWER);
    expect(parts).toHaveLength(2);
    expect(parts[0].status).toBe(400);
    expect(JSON.parse(parts[0].body)).toEqual({ error: { code: '0x80044331', message: expect.stringContaining('A validation error occurred') } });
    expect(parts[0].headers['content-type']).toBe('application/json; odata.metadata=minimal');
    expect(parts[1]).toEqual({
      status: 204,
      headers: { 'odata-version': '4.0', 'odata-entityid': 'https://org.example.crm4.dynamics.com/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)' },
      body: '',
    });
  });

  it('reads the same answer with CRLF line ends and a quoted boundary', () => {
    const crlf = CONTINUE_ON_ERROR_ANSWER.replace(/\n/g, '\r\n');
    const parts = parseBatchResponse('multipart/mixed;boundary="batchresponse_5d1f0c2e-aaaa-4bbb-8ccc-000000000001"', Buffer.from(crlf));
    expect(parts.map((p) => p.status)).toEqual([400, 204]);
    expect(parts[1].body).toBe('');
  });

  it('flattens change sets, keeping their Content-IDs, and reads a member that ends without a blank line', () => {
    const parts = parseBatchResponse('Multipart/Mixed; charset=utf-8; Boundary="batchresponse_b1"', CHANGESET_ANSWER);
    expect(parts.map((p) => [p.status, p.contentId])).toEqual([
      [204, '1'],
      [204, '2'],
      [200, undefined],
    ]);
    expect(parts[0].headers.location).toBe('https://org.example/api/data/v9.2/leads(425195a4-7a75-e911-a97a-000d3a34a1bd)');
    expect(parts[2].body).toBe('{"value":[]}');
  });

  it('ignores a preamble, an epilogue and padding after a delimiter', () => {
    const text = `This is a preamble.\r\n--b  \r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b--  \r\nepilogue`;
    expect(parseBatchResponse('multipart/mixed; boundary=b', text)).toEqual([{ status: 204, headers: {}, body: '' }]);
  });

  it('does not take a line that merely starts like the boundary for a delimiter', () => {
    const text = '--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n--bx is data\r\n--b--';
    expect(parseBatchResponse('multipart/mixed; boundary=b', text)[0].body).toBe('--bx is data');
  });

  it('refuses what is not a whole multipart answer', () => {
    expect(() => parseBatchResponse('application/json', '{}')).toThrow(BatchFormatError);
    expect(() => parseBatchResponse('multipart/mixed', '--b--')).toThrow(BatchFormatError);
    expect(() => parseBatchResponse('multipart/mixed; boundary=b', '--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n')).toThrow(/cut short/);
    expect(() => parseBatchResponse('multipart/mixed; boundary=b', 'no delimiter at all')).toThrow(BatchFormatError);
    expect(() => parseBatchResponse('multipart/mixed; boundary=b', '--b\r\nContent-Type: application/http\r\n\r\nnot a status line\r\n--b--')).toThrow(/status line/);
  });

  it('finds the boundary in quoted and unquoted parameters', () => {
    expect(boundaryOf('multipart/mixed; boundary=batchresponse_1')).toBe('batchresponse_1');
    expect(boundaryOf('multipart/mixed; boundary="batch_a b;c"')).toBe('batch_a b;c');
    expect(boundaryOf('multipart/mixed; charset=utf-8; BOUNDARY=x')).toBe('x');
    expect(boundaryOf('application/json')).toBeNull();
  });
});

describe('building a $batch request', () => {
  it('lays each request out as Microsoft documents: application/http, binary, request line, headers, body', () => {
    const { contentType, body } = buildBatchRequest(
      [{ method: 'PATCH', url: "https://org.example/api/data/v9.2/things(key='a')", headers: { 'Content-Type': 'application/json' }, body: '{"x":1}' }],
      'batch_1',
    );
    expect(contentType).toBe('multipart/mixed; boundary="batch_1"');
    expect(body).toBe(
      [
        '--batch_1',
        'Content-Type: application/http',
        'Content-Transfer-Encoding: binary',
        '',
        "PATCH https://org.example/api/data/v9.2/things(key='a') HTTP/1.1",
        'Content-Type: application/json',
        '',
        '{"x":1}',
        '--batch_1--',
        '',
      ].join('\r\n'),
    );
  });

  it('refuses line breaks that would forge a part, and a body holding the boundary', () => {
    expect(() => buildBatchRequest([{ method: 'PATCH', url: 'https://x/a\r\nGET /b', body: '' }])).toThrow(BatchFormatError);
    expect(() => buildBatchRequest([{ method: 'PATCH', url: 'https://x/a', headers: { A: 'b\r\nC: d' } }])).toThrow(BatchFormatError);
    expect(() => buildBatchRequest([{ method: 'PATCH', url: 'https://x/a', body: '--batch_1' }], 'batch_1')).toThrow(BatchFormatError);
  });

  it('writes a quote inside a key value twice (OData string literal)', () => {
    expect(odataStringLiteral("o'brien")).toBe("'o''brien'");
    expect(encodeKeySegment(odataStringLiteral('meander:run:1'))).toBe("'meander:run:1'");
    expect(encodeKeySegment(odataStringLiteral('a/b?c#d%e f'))).toBe("'a%2Fb%3Fc%23d%25e%20f'");
  });
});

describe('round trips through the fake Dataverse (an independent implementation)', () => {
  const reference = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
  const row = fc.record({ reference, body: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }) });

  it('what we build, the fake parses back to the same upserts and key values', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 25 }), (rows) => {
        const { contentType, body } = buildBatchRequest(
          rows.map((r) => ({
            method: 'PATCH',
            url: `https://org.example/api/data/v9.2/things(key=${encodeKeySegment(odataStringLiteral(r.reference))})`,
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(r.body),
          })),
        );
        const items = parseBatchRequest(contentType, body);
        expect(items).toHaveLength(rows.length);
        items.forEach((item, i) => {
          if (!('request' in item)) throw new Error('expected a plain request');
          expect(item.request.method).toBe('PATCH');
          expect(item.request.headers['content-type']).toBe('application/json');
          expect(JSON.parse(item.request.body)).toEqual(JSON.parse(JSON.stringify(rows[i].body)));
          const address = parseKeyAddress(new URL(item.request.url).pathname.slice('/api/data/v9.2/'.length));
          expect(address).toMatchObject({ entitySet: 'things', keyName: 'key', keyValue: rows[i].reference });
        });
      }),
      { numRuns: 200 },
    );
  });

  const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
  const headerValue = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
  const part: fc.Arbitrary<FakeResponsePart> = fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    headers: fc.uniqueArray(fc.tuple(headerName, headerValue), { maxLength: 5, selector: ([name]) => name.toLowerCase() }),
    body: fc.oneof(
      fc.constant(''),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    ),
  });
  const item: fc.Arbitrary<FakeResponseItem> = fc.oneof(
    { weight: 4, arbitrary: part },
    {
      weight: 1,
      arbitrary: fc.array(part, { minLength: 1, maxLength: 4 }).map((members) => ({ changeset: members.map((m, i) => ({ ...m, contentId: String(i + 1) })) })),
    },
  );
  const expected = (items: FakeResponseItem[]): BatchResponsePart[] =>
    items
      .flatMap((i) => ('changeset' in i ? i.changeset : [i]))
      .map((p) => ({
        status: p.status,
        headers: Object.fromEntries((p.headers ?? []).map(([n, v]) => [n.toLowerCase(), v])),
        body: p.body ?? '',
        ...(p.contentId !== undefined ? { contentId: p.contentId } : {}),
      }));

  it("what the fake answers, we parse back to the same responses: CRLF or LF, the boundary quoted or not, from the answer's Content-Type", () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 20 }), fc.boolean(), fc.constantFrom('plain', 'quoted', 'params'), (items, lf, style) => {
        const boundary = `batchresponse_${items.length}_x`;
        let text = encodeBatchResponse(items, boundary);
        if (lf) text = text.replace(/\r\n/g, '\n');
        const contentType =
          style === 'plain'
            ? `multipart/mixed; boundary=${boundary}`
            : style === 'quoted'
              ? `multipart/mixed;boundary="${boundary}"`
              : `Multipart/Mixed; charset=utf-8; Boundary="${boundary}"`;
        expect(parseBatchResponse(contentType, Buffer.from(text, 'utf8'))).toEqual(expected(items));
      }),
      { numRuns: 300 },
    );
  });
});
