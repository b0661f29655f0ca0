// Input the database cannot store as sent (NUL, unpaired surrogates, Infinity), bodies nested past
// the limit, prototype keys and bytes that are not UTF-8: each a 400 naming its rule on the real
// routes, and nothing written. Before, NUL and surrogates reached PostgreSQL (22021, 22P05,
// 22P02) as 500s, and 3,000 levels of nesting overflowed the validators' stack.
import { apiClient, expectProblem, type ApiClient } from './support/api';
import { newOrgId, startTestApp, testCursor, type TestApp } from './support/test-app';

describe('input the database cannot store is refused before it (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  const org = newOrgId();
  let token: string;
  let configPath: string;
  const base = `/v1/organizations/${org}/integrations`;

  beforeAll(async () => {
    t = await startTestApp({ captureLogs: true });
    api = apiClient(t);
    token = await t.token('org_admin', org);
    const created = await api.post(base, token, { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'k', enabled: true });
    expect(created.status).toBe(201);
    configPath = `${base}/${created.body.id}`;
    const mapping = await api.post(`${configPath}/field-mappings`, token, { source_field: 'expense_amount', target_field: 'Amount' });
    expect(mapping.status).toBe(201);
  });
  afterAll(() => t.close());

  const send = (method: 'post' | 'patch', path: string, text: string | Buffer) =>
    // As bytes: superagent would serialize a Buffer as JSON of its own.
    t.http[method](path)
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json')
      .serialize((body: unknown) => body as string)
      .send(text);
  const written = async () => {
    const [row] = await t.dataSource.query(
      `SELECT (SELECT count(*) FROM integration_configs WHERE organization_id = $1)::int AS configs,
              (SELECT count(*) FROM field_mappings WHERE organization_id = $1)::int AS mappings,
              (SELECT count(*) FROM sync_runs WHERE organization_id = $1)::int AS runs,
              (SELECT count(*) FROM export_runs WHERE organization_id = $1)::int AS exports,
              (SELECT max(revision) FROM integration_configs WHERE organization_id = $1)::int AS revision`,
      [org],
    );
    return row;
  };
  const refused = async (method: 'post' | 'patch', path: string, text: string | Buffer, field: string, rule: string) => {
    const before = await written();
    const res = await send(method, path, text);
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors).toContainEqual({ field, rule, message: expect.any(String) });
    expect(await written()).toEqual(before);
  };
  const claim = '"claim_id":"c-1","expense_amount":10,"expense_type":"travel_km","expense_date":"2026-11-01"';

  it('NUL in any string, nested JSON values and export records included: 400 text_must_be_valid_unicode', async () => {
    await refused('post', base, '{"integration_type":"xledger","display_name":"a\\u0000b","base_url":"https://x.example"}', 'display_name', 'text_must_be_valid_unicode');
    await refused('patch', configPath, '{"extra_config":{"company_code":"10\\u000001"}}', 'extra_config.company_code', 'text_must_be_valid_unicode');
    await refused('post', `${configPath}/sync-runs`, '{"status":"failed","started_at":"2026-11-22T10:00:00Z","error":"boom\\u0000"}', 'error', 'text_must_be_valid_unicode');
    await refused(
      'post',
      `${configPath}/field-mappings`,
      '{"source_field":"cost_center","target_field":"CC","transform_type":"static","transform_config":{"value":"\\u0000"}}',
      'transform_config.value',
      'text_must_be_valid_unicode',
    );
    await refused('post', `${configPath}/exports`, `{"records":[{${claim},"cost_center":"\\u0000"}]}`, 'records[0].cost_center', 'text_must_be_valid_unicode');
  });

  it('unpaired surrogates, in values and in keys: 400 text_must_be_valid_unicode', async () => {
    await refused('patch', configPath, '{"display_name":"x\\ud800"}', 'display_name', 'text_must_be_valid_unicode');
    await refused('post', `${configPath}/exports`, `{"records":[{${claim},"cost_center":"\\udfff"}]}`, 'records[0].cost_center', 'text_must_be_valid_unicode');
    await refused('patch', configPath, '{"extra_config":{"\\ud800":"v"}}', 'extra_config."\\ud800"', 'text_must_be_valid_unicode');
    // A surrogate pair is one character, and fine.
    expect((await send('patch', configPath, '{"display_name":"X \\ud83d\\ude00"}')).status).toBe(200);
  });

  it('numbers that overflow to Infinity: 400 number_must_be_finite, not stored as null', async () => {
    await refused('post', `${configPath}/sync-runs`, '{"status":"success","started_at":"2026-11-22T10:00:00Z","records_pushed":1e309}', 'records_pushed', 'number_must_be_finite');
    await refused(
      'post',
      `${configPath}/exports/preview`,
      `{"records":[{${claim.replace('"expense_amount":10', '"expense_amount":-1e400')}}]}`,
      'records[0].expense_amount',
      'number_must_be_finite',
    );
  });

  it('JSON nested past 64 levels (3,000 here) on every validated body: 400 body_nesting_within_bounds, no stack overflow', async () => {
    const deep = '['.repeat(3000) + ']'.repeat(3000);
    for (const [method, path] of [
      ['post', base],
      ['patch', configPath],
      ['post', `${configPath}/exports/preview`],
      ['post', `${configPath}/field-mappings/bulk`],
    ] as const) {
      const res = await send(method, path, `{"extra_config":${deep}}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors.map((e: { rule: string }) => e.rule)).toEqual(['body_nesting_within_bounds']);
    }
    expect(t.logs.filter((line) => /Maximum call stack/.test(line))).toEqual([]);
  });

  it('prototype keys, also nested in extra_config: 400 unknown_field, not dropped', async () => {
    await refused('patch', configPath, '{"__proto__":{"enabled":false}}', '__proto__', 'unknown_field');
    await refused('patch', configPath, '{"extra_config":{"constructor":{"prototype":{"x":1}}}}', 'extra_config.constructor', 'unknown_field');
    await refused(
      'post',
      base,
      '{"integration_type":"xledger","display_name":"P","base_url":"https://x.example","extra_config":{"__proto__":{"a":1}}}',
      'extra_config.__proto__',
      'unknown_field',
    );
  });

  it('date-times other than RFC 3339 that IsISO8601 accepts: 400 timestamp_must_be_iso8601', async () => {
    for (const stamp of ['2026-W01-1', '2026-032', '20260101T000000Z', '2026-01-01T00Z', '2026-01-01T00:00:00,5Z', '2026-01-01T10:00Z', '2026-01-01']) {
      await refused('post', `${configPath}/sync-runs`, JSON.stringify({ status: 'success', started_at: stamp }), 'started_at', 'timestamp_must_be_iso8601');
      await refused(
        'post',
        `${configPath}/sync-runs`,
        JSON.stringify({ status: 'success', started_at: '2026-01-01T00:00:00Z', finished_at: stamp }),
        'finished_at',
        'timestamp_must_be_iso8601',
      );
    }
    for (const stamp of ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.123456+01:00']) {
      expect([stamp, (await send('post', `${configPath}/sync-runs`, JSON.stringify({ status: 'success', started_at: stamp }))).status]).toEqual([stamp, 201]);
    }
  });

  it('a cursor whose sequence overflows bigint: 400 cursor_must_be_valid', async () => {
    for (const seq of ['9999999999999999999', '9223372036854775808']) {
      const cursor = Buffer.from(`s:${seq}`).toString('base64url');
      for (const list of ['sync-runs', 'exports', 'webhook-events']) {
        const res = await api.get(`${configPath}/${list}?cursor=${cursor}`, token);
        expectProblem(res, 400, 'validation_failed');
        expect(res.body.errors).toEqual([{ field: 'cursor', rule: 'cursor_must_be_valid', message: expect.any(String) }]);
      }
    }
    // The largest bigint is still a position: newest first, every run comes after it (the first page again).
    const largest = testCursor(org, `sync_runs:${configPath.split('/').pop()}`, 2n ** 63n - 1n);
    const fromLargest = await api.get(`${configPath}/sync-runs?cursor=${largest}`, token);
    expect(fromLargest.status).toBe(200);
    expect(fromLargest.body.items).toEqual((await api.get(`${configPath}/sync-runs`, token)).body.items);
  });

  it('a nested array in bulk items: 400 items_must_be_array, not a TypeError', async () => {
    const before = await written();
    for (const items of ['[[]]', '[["nested"]]', '[[{"source_field":"cost_center","target_field":"CC"}]]']) {
      const res = await send('post', `${configPath}/field-mappings/bulk`, `{"items":${items}}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toContainEqual({ field: 'items', rule: 'items_must_be_array', message: expect.any(String) });
    }
    expect(await written()).toEqual(before);
  });

  it('bytes that are not UTF-8: 400 body_must_be_valid_utf8, not stored with U+FFFD', async () => {
    const latin1 = Buffer.concat([Buffer.from('{"display_name":"Bl'), Buffer.from([0xe5]), Buffer.from('b\u00e6r"}')]);
    await refused('patch', configPath, latin1, 'body', 'body_must_be_valid_utf8');
    expect((await api.get(configPath, token)).body.display_name).not.toContain('\ufffd');
  });
});
