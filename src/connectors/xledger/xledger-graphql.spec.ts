import {
  ADD_GL_IMPORT_ITEMS_MUTATION,
  addGLImportItemsBody,
  BURST_RATE_LIMIT_REACHED,
  CONCURRENCY_LIMIT_REACHED,
  formatDecimal,
  formatPostedDate,
  INSUFFICIENT_CREDITS,
  isAmbiguousDecimal,
  readAddAnswer,
  readConnectionTestAnswer,
  toGLImportInput,
  type XledgerHttpAnswer,
} from './xledger-graphql';

const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);
const ref = (index: number) => `meander:3f2b0c1e-0000-4000-8000-000000000001:${index}`;
const row = (index: number, output: Record<string, unknown>) => ({ index, reference: ref(index), output });
const base = { Amount: 120.5, TransactionDate: '2026-11-20', AccountCode: '4001' };
const answer = (body: unknown, status = 200, headers: Record<string, string> = {}): XledgerHttpAnswer => ({
  status,
  headers,
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});

describe('a row as an addGLImportItems input', () => {
  it('maps the fixed fields, nests dotted ones, and carries the reference as extIdentifier', () => {
    const result = toGLImportInput(row(7, { ...base, text: 'Taxi', 'currency.code': 'NOK', 'glObject1.code': 'P-1', 'transactionSource.code': 'EXP' }));
    expect(result).toEqual({
      ok: true,
      input: {
        clientId: '7',
        node: {
          amount: '120.5',
          postedDate: '2026-11-20',
          account: { code: '4001' },
          text: 'Taxi',
          currency: { code: 'NOK' },
          glObject1: { code: 'P-1' },
          transactionSource: { code: 'EXP' },
          extIdentifier: ref(7),
        },
      },
    });
  });

  it('merges a dotted field into the account object and skips null values', () => {
    const result = toGLImportInput(row(0, { ...base, 'account.description': 'Travel', project: null }));
    expect(result.ok && result.input.node).toEqual({ amount: '120.5', postedDate: '2026-11-20', account: { code: '4001', description: 'Travel' }, extIdentifier: ref(0) });
  });

  it('never lets a mapped extIdentifier replace the reference', () => {
    const result = toGLImportInput(row(3, { ...base, extIdentifier: 'someone-else' }));
    expect(result.ok && result.input.node.extIdentifier).toBe(ref(3));
  });

  it("takes a field named like an Object method (constructor, toString, valueOf.x) as any other name: nothing of the node's prototype is a field taken", () => {
    const result = toGLImportInput(row(2, { ...base, constructor: 'a', toString: 'b', 'valueOf.code': 'c' }));
    expect(result.ok && { ...result.input.node }).toEqual({
      amount: '120.5',
      postedDate: '2026-11-20',
      account: { code: '4001' },
      constructor: 'a',
      toString: 'b',
      valueOf: { code: 'c' },
      extIdentifier: ref(2),
    });
  });

  it.each([
    [{ ...base, Amount: 'twelve' }, 'Amount "twelve" is not a decimal number'],
    [{ ...base, Amount: null }, 'Amount null is not a decimal number'],
    [{ ...base, TransactionDate: '2026-02-30' }, 'TransactionDate "2026-02-30" is not a date'],
    [{ ...base, TransactionDate: undefined }, 'TransactionDate (missing) is not a date'],
    [{ ...base, AccountCode: ' ' }, 'AccountCode " " is not an account code'],
    [{ ...base, 'account.code': '9999' }, 'target field "account.code" collides with "AccountCode"'],
    [{ ...base, account: 'x' }, 'target field "account" collides with "AccountCode"'],
    [{ ...base, amount: '1' }, 'target field "amount" collides with "Amount"'],
    [{ ...base, 'text.x': 'a', text: 'b' }, 'target field "text" collides with "text.x"'],
    [{ ...base, '__proto__.polluted': 1 }, 'target field "__proto__.polluted" is not an Xledger field name'],
    [{ ...base, 'Cost centre': 'A' }, 'target field "Cost centre" is not an Xledger field name'],
  ])('refuses a row it cannot send: %j', (output, error) => {
    const result = toGLImportInput(row(1, output));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toContain(error);
  });

  it('writes amounts as decimal strings', () => {
    expect(formatDecimal(120.5)).toBe('120.5');
    expect(formatDecimal(-3)).toBe('-3');
    // Binary floating point's noise is not an amount.
    expect([0.1 + 0.2, 1.1 * 3, 120.5 * 3, 19.99 + 0.01].map(formatDecimal)).toEqual(['0.3', '3.3', '361.5', '20']);
    expect(formatDecimal(1234567.891)).toBe('1234567.891');
    expect(formatDecimal('120.50')).toBe('120.50');
    expect(formatDecimal(' 120,50 ')).toBe('120.50');
    expect(formatDecimal('+7')).toBe('7');
    for (const bad of [Number.NaN, Infinity, '1 234,50', '1e3', '', true, {}]) expect(formatDecimal(bad)).toBeNull();
  });

  it('writes an amount JavaScript would print in exponent form as a plain decimal, and refuses one written so as text, saying why', () => {
    expect([1e-7, -2.5e-7, 1e21, 1.5e21, 1e-7 + 2e-7].map(formatDecimal)).toEqual(['0.0000001', '-0.00000025', '1000000000000000000000', '1500000000000000000000', '0.0000003']);
    const tiny = toGLImportInput(row(1, { Amount: 1e-7, TransactionDate: '2026-11-20', AccountCode: '7140' }));
    expect(tiny.ok && tiny.input.node.amount).toBe('0.0000001');
    const text = toGLImportInput(row(1, { Amount: '1e-7', TransactionDate: '2026-11-20', AccountCode: '7140' }));
    expect(!text.ok && text.error).toBe('Amount "1e-7" is in exponent form; Xledger takes a plain decimal string (0.0000001, not 1e-7)');
  });

  it('keeps a decimal comma that cannot be grouping, and reads grouping in threes before a point', () => {
    expect(formatDecimal('120,50')).toBe('120.50');
    expect(formatDecimal('1,5')).toBe('1.5');
    expect(formatDecimal('1,2345')).toBe('1.2345');
    // The `format` transform's `#,##0.00`: the commas can only be grouping.
    expect(formatDecimal('1,234.50')).toBe('1234.50');
    expect(formatDecimal('-12,345,678.9')).toBe('-12345678.9');
    // Not grouping in threes, or grouping without a point: refused, not guessed.
    for (const bad of ['1,23.50', '1234,567.5', ',234.50', '1,234,5', '1,234,567', '1.234,50']) expect(formatDecimal(bad)).toBeNull();
  });

  it('refuses a comma followed by exactly three digits: 1000x apart read either way', () => {
    for (const ambiguous of ['1,234', '-12,345', ' 123,456 ', '+1,000']) {
      expect(formatDecimal(ambiguous)).toBeNull();
      expect(isAmbiguousDecimal(ambiguous)).toBe(true);
    }
    for (const clear of ['120,50', '1,5', '1,2345', '1,234.50', '1234', 1234]) expect(isAmbiguousDecimal(clear)).toBe(false);
    // Grouping never writes these: a decimal comma it is.
    expect(['0,125', '1234,567'].map(formatDecimal)).toEqual(['0.125', '1234.567']);

    const result = toGLImportInput(row(4, { ...base, Amount: '1,234' }));
    expect(result).toEqual({
      ok: false,
      error: 'Amount "1,234" is ambiguous: 1234 with a thousands separator or 1.234 with a decimal comma; format it without grouping (0.00)',
    });
    const negative = toGLImportInput(row(5, { ...base, Amount: '-12,345' }));
    expect(!negative.ok && negative.error).toContain('Amount "-12,345" is ambiguous');
    const grouped = toGLImportInput(row(6, { ...base, Amount: '1,234.50' }));
    expect(grouped.ok && grouped.input.node.amount).toBe('1234.50');
  });

  it('writes dates as yyyy-MM-dd', () => {
    expect(formatPostedDate('2026-11-20')).toBe('2026-11-20');
    expect(formatPostedDate('20.11.2026')).toBe('2026-11-20');
    expect(formatPostedDate('2026-11-20T23:30:00+01:00')).toBe('2026-11-20');
    expect(formatPostedDate('2026-11-20T08:00:00.000Z')).toBe('2026-11-20');
    // Years 0001–0099 as written (Date.UTC would read 0050 as 1950); there is no year 0000.
    expect(formatPostedDate('0050-03-01')).toBe('0050-03-01');
    expect(formatPostedDate('29.02.0096')).toBe('0096-02-29');
    expect(formatPostedDate('0000-01-01')).toBeNull();
    for (const bad of ['2026-13-01', '31.02.2026', '11/20/2026', '2026-11-20junk', 20261120, null]) expect(formatPostedDate(bad)).toBeNull();
  });

  it('sends the inputs as variables of a fixed document', () => {
    const inputs = [{ clientId: '0', node: { text: '") { x } mutation { y(' } }];
    const body = addGLImportItemsBody(inputs);
    expect(body).toEqual({ query: ADD_GL_IMPORT_ITEMS_MUTATION, variables: { inputs } });
    expect(body.query).toContain('$inputs: [AddGLImportItemsInput!]!');
    expect(body.query).not.toContain('") { x }');
  });
});

describe("reading Xledger's answers", () => {
  const ids = ['0', '1', '2'];

  it('maps edges back to their inputs by clientId, in any order', () => {
    const reading = readAddAnswer(answer({ data: { addGLImportItems: { edges: [2, 0, 1].map((i) => ({ clientId: String(i), node: { dbId: 500 + i } })) } } }), ids, NOW);
    expect(reading).toEqual({
      ok: true,
      value: {
        executed: true,
        created: new Map([
          ['2', '502'],
          ['0', '500'],
          ['1', '501'],
        ]),
        refused: new Map(),
        otherErrors: [],
      },
    });
  });

  it('maps a complete answer without clientIds by position', () => {
    const reading = readAddAnswer(answer({ data: { addGLImportItems: { edges: [{ node: { dbId: 1 } }, { node: { dbId: 2 } }, { node: { dbId: 3 } }] } } }), ids, NOW);
    expect(reading.ok && [...reading.value.created]).toEqual([
      ['0', '1'],
      ['1', '2'],
      ['2', '3'],
    ]);
  });

  it.each([
    [BURST_RATE_LIMIT_REACHED, {}, 5],
    [CONCURRENCY_LIMIT_REACHED, {}, 5],
    [INSUFFICIENT_CREDITS, {}, 1200],
    [INSUFFICIENT_CREDITS, { resetAt: new Date(NOW + 90_500).toISOString() }, 91],
    [INSUFFICIENT_CREDITS, { resetAt: (NOW + 60_000) / 1000 }, 60],
    [BURST_RATE_LIMIT_REACHED, { resetAt: new Date(NOW + 12_000).toISOString() }, 12],
    [BURST_RATE_LIMIT_REACHED, { resetAt: new Date(NOW - 5_000).toISOString() }, 1],
  ])('reads throttling %s %j as a retry after %i s (named by Xledger only with a resetAt)', (code, extensions, seconds) => {
    const reading = readAddAnswer(answer({ errors: [{ message: 'Too many requests', code, extensions }], data: null }), ids, NOW);
    const named = 'resetAt' in extensions;
    expect(reading).toEqual({ ok: false, failure: { kind: 'retryable', message: code, retryAfterSeconds: seconds, retryAfterNamed: named } });
  });

  it('reads the items a throttled or refused answer shows created all the same (data beside errors), by clientId or a complete list by position', () => {
    const edges = [
      { clientId: '2', node: { dbId: 9002 } },
      { clientId: '0', node: { dbId: 9000 } },
      { clientId: '3', node: { dbId: 9003 } },
      { clientId: 'not ours', node: { dbId: 1 } },
      { clientId: '1' },
    ];
    const throttled = readAddAnswer(
      answer({
        data: { addGLImportItems: { edges } },
        errors: [
          { message: 'Too many requests', code: BURST_RATE_LIMIT_REACHED },
          { message: 'No', path: ['addGLImportItems', 3] },
        ],
      }),
      ['0', '1', '2', '3'],
      NOW,
    );
    // Item 3 is named by an error too: not claimed. Item 1 has no node: not created.
    expect(throttled).toEqual({
      ok: false,
      failure: {
        kind: 'retryable',
        message: BURST_RATE_LIMIT_REACHED,
        retryAfterSeconds: 5,
        retryAfterNamed: false,
        created: new Map([
          ['2', '9002'],
          ['0', '9000'],
        ]),
      },
    });
    const all = ids.map((_, i) => ({ node: { dbId: 9100 + i } }));
    const refused = readAddAnswer(answer({ data: { addGLImportItems: { edges: all } }, errors: [{ message: 'Invalid API token.' }] }, 401), ids, NOW);
    expect(!refused.ok && refused.failure).toMatchObject({ kind: 'credentials_rejected', created: new Map(ids.map((id, i) => [id, String(9100 + i)])) });
    // Without data: nothing created, no `created`.
    expect(readAddAnswer(answer({ errors: [{ message: 'Too many requests', code: BURST_RATE_LIMIT_REACHED }], data: null }), ids, NOW)).not.toHaveProperty('failure.created');
  });

  it('also finds the code in extensions', () => {
    const reading = readAddAnswer(answer({ errors: [{ message: 'Too many requests', extensions: { code: CONCURRENCY_LIMIT_REACHED } }] }), ids, NOW);
    expect(reading).toEqual({ ok: false, failure: { kind: 'retryable', message: CONCURRENCY_LIMIT_REACHED, retryAfterSeconds: 5, retryAfterNamed: false } });
  });

  it.each([
    [answer({ errors: [{ message: 'whatever' }] }, 401), 'Xledger refused the API token (HTTP 401)'],
    [answer('', 403), 'Xledger refused the API token (HTTP 403)'],
    [
      answer({ errors: [{ message: 'Bad format for API Token. Expected header: "Authorization: token <your-token>"' }] }),
      'Xledger refused the API token: Bad format for API Token',
    ],
    [answer({ errors: [{ message: 'Not allowed', extensions: { code: 'UNAUTHENTICATED' } }] }), 'Xledger refused the API token: Not allowed'],
  ])('reads a refused token as credentials_rejected', (response, message) => {
    const reading = readAddAnswer(response, ids, NOW);
    expect(reading.ok).toBe(false);
    expect(!reading.ok && reading.failure.kind).toBe('credentials_rejected');
    expect(!reading.ok && reading.failure.message).toContain(message);
  });

  it('reads 429 and 5xx as retryable, honouring Retry-After', () => {
    expect(readAddAnswer(answer('', 429, { 'retry-after': '17' }), ids, NOW)).toEqual({
      ok: false,
      failure: { kind: 'retryable', message: 'Xledger answered HTTP 429', retryAfterSeconds: 17 },
    });
    expect(readAddAnswer(answer('<html>', 503, { 'retry-after': new Date(NOW + 30_000).toUTCString() }), ids, NOW)).toEqual({
      ok: false,
      failure: { kind: 'retryable', message: 'Xledger answered HTTP 503', retryAfterSeconds: 30 },
    });
    expect(readAddAnswer(answer('', 502), ids, NOW)).toEqual({ ok: false, failure: { kind: 'retryable', message: 'Xledger answered HTTP 502', retryAfterSeconds: undefined } });
    expect(readAddAnswer(answer('not json'), ids, NOW)).toEqual({ ok: false, failure: { kind: 'retryable', message: 'Xledger answered HTTP 200 without a GraphQL body' } });
  });

  it('reads a whole-request refusal naming items by their variable path (graphql-dotnet)', () => {
    const reading = readAddAnswer(
      answer({ errors: [{ message: "Variable '$inputs[1].node.account' is invalid. Account 9999 does not exist", extensions: { code: 'INVALID_VALUE' } }] }),
      ids,
      NOW,
    );
    expect(reading).toEqual({
      ok: true,
      value: { executed: false, created: new Map(), refused: new Map([['1', "Variable '$inputs[1].node.account' is invalid. Account 9999 does not exist"]]), otherErrors: [] },
    });
  });

  it('reads a partial answer: edges for some, errors naming the others by clientId or path', () => {
    const reading = readAddAnswer(
      answer({
        data: { addGLImportItems: { edges: [{ clientId: '0', node: { dbId: 10 } }] } },
        errors: [
          { message: 'Period closed', path: ['addGLImportItems'], extensions: { clientId: '1' } },
          { message: 'Unknown project', path: ['addGLImportItems', 'edges', 2, 'node'] },
          { message: 'Something else' },
        ],
      }),
      ids,
      NOW,
    );
    expect(reading).toEqual({
      ok: true,
      value: {
        executed: true,
        created: new Map([['0', '10']]),
        refused: new Map([
          ['1', 'Period closed'],
          ['2', 'Unknown project'],
        ]),
        otherErrors: ['Something else'],
      },
    });
  });

  it('fails a non-GraphQL status that says nothing about the items', () => {
    expect(readAddAnswer(answer({ errors: [{ message: 'Syntax Error', extensions: { code: 'SYNTAX_ERROR' } }] }, 400), ids, NOW)).toEqual({
      ok: false,
      failure: { kind: 'retryable', message: 'Xledger answered HTTP 400: SYNTAX_ERROR: Syntax Error' },
    });
  });

  it('reads the connection test', () => {
    expect(readConnectionTestAnswer(answer({ data: { __typename: 'Query' } }), NOW)).toEqual({ ok: true, value: undefined });
    expect(readConnectionTestAnswer(answer({ errors: [{ message: 'Bad format for API Token' }] }), NOW)).toMatchObject({ ok: false, failure: { kind: 'credentials_rejected' } });
    expect(readConnectionTestAnswer(answer({ errors: [{ message: 'Your query timed out.' }] }), NOW)).toEqual({
      ok: false,
      failure: { kind: 'retryable', message: 'Xledger: Your query timed out.' },
    });
    expect(readConnectionTestAnswer(answer({ data: null }), NOW)).toMatchObject({ ok: false, failure: { kind: 'retryable' } });
  });
});
