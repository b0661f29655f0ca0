import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { expectProblem } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';
import { ProbeModule } from './support/probe.module';

describe('errors are problem+json (HTTP, real pipe and filter)', () => {
  let t: TestApp;
  let token: string;
  const org = newOrgId();

  beforeAll(async () => {
    t = await startTestApp({ imports: [ProbeModule], captureLogs: true });
    token = await t.token('org_admin', org);
  });
  afterAll(() => t.close());

  const post = (body: unknown) =>
    t.http
      .post(`/v1/organizations/${org}/probe`)
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);

  it('reports every failing field at once with the rule names', async () => {
    const res = await post({ display_name: '   ', sync_frequency: 'yearly', sort_order: -1, items: [{ source_field: 'ok_field' }, { source_field: 'BadField' }] });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'https://docs.meander.example/problems/validation_failed',
      title: 'Validation failed',
      status: 400,
      code: 'validation_failed',
    });
    const pairs = res.body.errors.map((e: { field: string; rule: string }) => `${e.field}:${e.rule}`);
    expect(pairs).toEqual(
      expect.arrayContaining([
        'display_name:display_name_not_empty',
        'sync_frequency:sync_frequency_must_be_known_value',
        'sort_order:sort_order_non_negative',
        'items[1].source_field:source_field_snake_case',
      ]),
    );
    expect(pairs).not.toContain('items[0].source_field:source_field_snake_case');
  });

  it('refuses unknown fields instead of dropping them', async () => {
    const res = await post({ display_name: 'ok', sync_frequency: 'daily', surprise: 1 });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'surprise', rule: 'unknown_field', message: 'surprise is not a known field' }]);
  });

  it('bounds the problem body: at most 100 errors, long field names clipped', async () => {
    const body: Record<string, unknown> = { display_name: 'ok', sync_frequency: 'daily' };
    for (let i = 0; i < 5000; i += 1) body[`unknown_${i}_${'x'.repeat(i === 0 ? 5000 : 10)}`] = i;
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.body.errors).toHaveLength(100);
    expect(res.body.errors.every((e: { rule: string }) => e.rule === 'unknown_field')).toBe(true);
    expect(Math.max(...res.body.errors.map((e: { field: string }) => e.field.length))).toBeLessThanOrEqual(300);
    expect(res.body.detail.length).toBeLessThanOrEqual(2000);
    expect(res.text.length).toBeLessThan(100_000);
  });

  it('accepts a valid body', async () => {
    const res = await post({ display_name: 'ok', sync_frequency: 'daily', items: [{ source_field: 'expense_amount' }] });
    expect(res.status).toBe(201);
  });

  it('answers malformed JSON with 400 and a rule', async () => {
    const res = await t.http.post(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{"display_name": ');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors[0].rule).toBe('body_must_be_valid_json');
  });

  it('reads JSON only: another media type, a charset other than UTF-8 or a Content-Encoding is 415 unsupported_media_type', async () => {
    const valid = JSON.stringify({ display_name: 'ok', sync_frequency: 'daily' });
    const send = (contentType: string, body: string | Buffer, encoding?: string) => {
      const req = t.http.post(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${token}`).set('Content-Type', contentType);
      return (encoding ? req.set('Content-Encoding', encoding) : req).send(body);
    };
    for (const res of [
      await send('text/plain', valid),
      await send('application/x-www-form-urlencoded', 'display_name=ok&sync_frequency=daily'),
      await send('application/json; charset=latin1', valid),
      await send('application/json', gzipSync(valid), 'gzip'),
      await send('not a media type', valid),
    ]) {
      expect(res.status).toBe(415);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe('unsupported_media_type');
    }
    // JSON's structured-syntax suffix, and UTF-8 said in any case, are read.
    expect((await send('application/merge-patch+json', valid)).status).toBe(201);
    expect((await send('application/json; charset=UTF-8', valid)).status).toBe(201);
    expect((await send('application/json', valid, 'identity')).status).toBe(201);
  });

  it('takes an empty body as no body, whatever Content-Type a client sends by default', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/json']) {
      const res = await t.http.post(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${token}`).set('Content-Type', contentType).send('');
      // The probe needs fields: validation answers, not the media type.
      expect([contentType, res.status, res.body.code]).toEqual([contentType, 400, 'validation_failed']);
    }
  });

  it("answers what Fastify's router refuses as problem+json with the security headers and a request id", async () => {
    const badEncoding = await t.http.get(`/v1/organizations/%E0%A4%A/probe`).set('Authorization', `Bearer ${token}`);
    expect(badEncoding.status).toBe(400);
    expect(badEncoding.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'url', rule: 'url_must_be_valid' }] });
    const longId = await t.http.get(`/v1/organizations/${'a'.repeat(101)}/probe`).set('Authorization', `Bearer ${token}`);
    expect(longId.status).toBe(404);
    expect(longId.body.code).toBe('not_found');
    for (const res of [badEncoding, longId]) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.text).not.toContain('FST_ERR');
    }
    // Each has its access line, under the id its answer carries, like any other request.
    const accessLines = await waitFor(
      () =>
        t.logs
          .map((line) => JSON.parse(line))
          .filter((line) => line.msg === 'request completed' && [badEncoding, longId].some((res) => res.headers['x-request-id'] === line.req?.id)),
      (lines) => lines.length >= 2,
      2_000,
      50,
    );
    expect(accessLines.map((line) => [line.req.id, line.res.status])).toEqual([
      [badEncoding.headers['x-request-id'], 400],
      [longId.headers['x-request-id'], 404],
    ]);
  });

  it('refuses a JSON text that is not an object or an array (strict)', async () => {
    for (const text of ['"ok"', '42', 'null', 'true']) {
      const res = await t.http.post(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(text);
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'body', rule: 'body_must_be_valid_json', message: 'the request body is not valid JSON' }]);
    }
  });

  it('routes a path whatever its case and with a trailing slash, as before the move to Fastify', async () => {
    for (const path of [`/v1/organizations/${org}/probe/`, `/V1/Organizations/${org.toUpperCase()}/PROBE`]) {
      const res = await t.http.post(path).set('Authorization', `Bearer ${token}`).send({ display_name: 'ok', sync_frequency: 'daily' });
      expect(res.status).toBe(201);
    }
  });

  it('answers a body over 1 MiB with 413 payload_too_large', async () => {
    const res = await post({ display_name: 'x'.repeat(1024 * 1024 + 10), sync_frequency: 'daily' });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
  });

  it('answers unknown routes with 404 not_found, naming the method and path but never the query string', async () => {
    const res = await t.http.get('/v1/no-such-route?api_key=xl-secret-in-a-url&x=1');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found');
    expect(res.body.detail).toBe('Cannot GET /v1/no-such-route');
    expect(res.text).not.toContain('xl-secret-in-a-url');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const long = await t.http.delete(`/v1/${'a'.repeat(500)}`);
    expect(long.body.detail).toBe(`Cannot DELETE /v1/${'a'.repeat(196)}…`);
  });

  it('answers a method the path has no route for with 405 and Allow (not 404 as if the path did not exist), before any token', async () => {
    const org = newOrgId();
    const config = `/v1/organizations/${org}/integrations/${randomUUID()}`;
    const put = await t.http.put(config).set('Content-Type', 'application/json').send('{}');
    expectProblem(put, 405, 'method_not_allowed');
    expect(put.headers['allow']).toBe('DELETE, GET, HEAD, PATCH');
    // Trailing slash and letter case as the router reads them.
    const list = await t.http.delete(`/V1/organizations/${org}/integrations/`);
    expectProblem(list, 405, 'method_not_allowed');
    expect(list.headers['allow']).toBe('GET, HEAD, POST');
    expect(list.body.detail).toBe('DELETE is not allowed here; this path allows GET, HEAD, POST.');
    // A path with no route at all stays 404; so does a 404 a handler answers, a static file that is
    // not there, and a path the router reads otherwise than this sketch of it (two trailing slashes).
    expect((await t.http.put('/v1/no-such-route')).status).toBe(404);
    expect((await t.http.get('/docs/no-such-file.js')).status).toBe(404);
    expect((await t.http.get('/v1/integration-types//')).status).toBe(404);
    expect((await t.http.get(config).set('Authorization', `Bearer ${await t.token('org_admin', org)}`)).status).toBe(404);
  });

  it('names the scheme a 401 wants (WWW-Authenticate: Bearer), and says when the token sent was refused', async () => {
    const missing = await t.http.get('/v1/integration-types');
    expect([missing.status, missing.headers['www-authenticate']]).toEqual([401, 'Bearer']);
    const forged = await t.http.get('/v1/integration-types').set('Authorization', 'Bearer not.a.jwt');
    expect([forged.status, forged.headers['www-authenticate']]).toEqual([401, 'Bearer error="invalid_token"']);
    // Another scheme is no bearer token refused: no error code.
    const basic = await t.http.get('/v1/integration-types').set('Authorization', 'Basic dXNlcjpwdw==');
    expect([basic.status, basic.headers['www-authenticate']]).toEqual([401, 'Bearer']);
  });

  it('answers an unexpected error with 500 internal_error and no stack, SQL or secret', async () => {
    for (const res of [
      await t.http.get('/v1/probe/boom').set('Authorization', `Bearer ${token}`),
      await t.http.post('/v1/probe/bad-sql').set('Authorization', `Bearer ${token}`),
    ]) {
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('internal_error');
      expect(res.text).not.toMatch(/sk_live|kaboom|no_such_table|SELECT|at .*\.ts/);
    }
    // The error is logged for operators, but never the SQL parameters.
    expect(t.logs.some((line) => line.includes('unexpected error'))).toBe(true);
    expect(t.logs.join('\n')).not.toContain('sk_live_SHOULD_NOT_LEAK');
    expect(t.logs.join('\n')).not.toMatch(/"parameters"/);
  });

  it("answers 503 when the database drops a transaction's connection between two statements", async () => {
    // TypeORM then fails the next statement with an error of its own, not pg's: one through the
    // entity manager, another through the query runner.
    for (const via of ['manager', 'runner']) {
      const res = await t.http.post(`/v1/probe/connection-lost-in-transaction?via=${via}`).set('Authorization', `Bearer ${token}`);
      expect({ via, status: res.status, code: res.body.code }).toEqual({ via, status: 503, code: 'service_unavailable' });
    }
  });

  it('logs each request once, as an error when it failed, and tags what is logged while serving it with the request', async () => {
    const res = await t.http.get('/v1/probe/boom').set('Authorization', `Bearer ${token}`).set('x-request-id', 'req-boom-1');
    expect(res.status).toBe(500);
    const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.req?.id === 'req-boom-1');
    // The filter's line, logged inside the request, and the access line, with the principal.
    expect(lines.find((l) => l.msg === 'unexpected error')).toMatchObject({ level: 50, req: { method: 'GET', url: '/v1/probe/boom' } });
    const access = lines.filter((l) => l.res);
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ level: 50, msg: 'request errored', res: { status: 500 }, responseTime: expect.any(Number), principal: { role: 'org_admin', org_id: org } });
  });

  it('names the request (req: id, method, path) on the audit lines logged while serving it', async () => {
    const lines = () => t.logs.map((l) => JSON.parse(l));
    const configs = `/v1/organizations/${org}/integrations`;
    const created = await t.http
      .post(configs)
      .set('Authorization', `Bearer ${token}`)
      .set('x-request-id', 'req-audit-create')
      .send({
        integration_type: 'xledger',
        display_name: 'Audit',
        base_url: 'https://x.example',
        api_key: 'k',
        enabled: true,
        field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate', accounting_code: 'AccountCode' },
      });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const exported = await t.http
      .post(`${configs}/${id}/exports`)
      .set('Authorization', `Bearer ${token}`)
      .set('x-request-id', 'req-audit-export')
      .send({ records: [{ claim_id: randomUUID(), expense_type: 'toll', expense_amount: 10, expense_date: '2026-11-20', accounting_code: '4001' }] });
    expect(exported.status).toBe(201);
    expect((await t.http.post(`/v1/webhooks/${id}`).set('x-request-id', 'req-audit-hook').send({})).status).toBe(401);
    const foreign = await t.http.get(`/v1/organizations/${randomUUID()}/integrations`).set('Authorization', `Bearer ${token}`).set('x-request-id', 'req-audit-foreign');
    expect(foreign.status).toBe(403);
    expect((await t.http.delete(`${configs}/${id}`).set('Authorization', `Bearer ${token}`).set('x-request-id', 'req-audit-delete')).status).toBe(204);

    const event = (name: string) => lines().filter((l) => l.event === name && (l.config_id ?? l.integration_id) === id);
    // Exactly the request it was logged for (supertest sends no user agent).
    const req = (reqId: string, method: string, url: string) => expect.objectContaining({ req: { id: reqId, method, url } });
    expect(event('credential_change')).toEqual([req('req-audit-create', 'POST', configs)]);
    expect(event('export_started')).toEqual([req('req-audit-export', 'POST', `${configs}/${id}/exports`)]);
    expect(event('export_completed')).toEqual([req('req-audit-export', 'POST', `${configs}/${id}/exports`)]);
    expect(event('webhook_refused')).toEqual([req('req-audit-hook', 'POST', `/v1/webhooks/${id}`)]);
    expect(event('integration_config_deleted')).toEqual([req('req-audit-delete', 'DELETE', `${configs}/${id}`)]);
    expect(lines().filter((l) => l.event === 'authorization_refused' && l.req?.id === 'req-audit-foreign')).toHaveLength(1);
  });

  it('logs requests whose query names are oddly encoded (as sent), audit lines included', async () => {
    const { port } = t.app.getHttpServer().address() as { port: number };
    // node:http sends the path as written (a client library would re-encode it).
    const rawGet = (path: string, requestId: string) =>
      new Promise<{ status: number; type: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']) }));
        });
        req.on('error', reject);
        req.end();
      });
    const foreign = randomUUID();
    for (const [n, query] of [
      [1, '%25=1'],
      [2, '%=1&b=2'],
    ] as const) {
      // The route reads no query parameter: each is refused (400), and the line names them as sent.
      expect((await rawGet(`/v1/organizations/${org}/integrations?${query}`, `req-odd-${n}`)).status).toBe(400);
      const refused = await rawGet(`/v1/organizations/${foreign}/integrations?${query}`, `req-odd-refused-${n}`);
      expect(refused).toEqual({ status: 403, type: expect.stringContaining('application/problem+json') });
    }
    const lines = t.logs.map((l) => JSON.parse(l));
    const named = (id: string) => lines.filter((l) => l.req?.id === id);
    expect(named('req-odd-1')).toEqual([
      expect.objectContaining({ msg: 'request completed', req: expect.objectContaining({ url: `/v1/organizations/${org}/integrations?%25=[redacted]` }) }),
    ]);
    expect(named('req-odd-2')).toEqual([
      expect.objectContaining({ msg: 'request completed', req: expect.objectContaining({ url: `/v1/organizations/${org}/integrations?%=[redacted]&b=[redacted]` }) }),
    ]);
    for (const n of [1, 2]) {
      expect(named(`req-odd-refused-${n}`).map((l) => l.event ?? l.msg)).toEqual(['authorization_refused', 'request completed']);
    }
  });

  it.each([
    ['closes its connection', 'req-abandoned', (socket: Socket) => socket.destroy()],
    ['ends its half of the connection', 'req-abandoned-half', (socket: Socket) => socket.end()],
  ])('logs a request the client abandoned mid-body (it %s) as aborted, not as a database or server error', async (_how, id, leave) => {
    const { port } = t.app.getHttpServer().address() as { port: number };
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    // Half a body: the request is still being read when the client goes away.
    socket.write(
      `POST /v1/organizations/${org}/probe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nx-request-id: ${id}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"display_name":`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    leave(socket);
    const lines = () => t.logs.map((l) => JSON.parse(l)).filter((l) => l.req?.id === id);
    for (let i = 0; i < 50 && !lines().some((l) => l.msg === 'request aborted'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    // The body read's ECONNRESET ("aborted") is the client's leaving: a "database unavailable" error line would page an operator for nothing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lines().filter((l) => l.level >= 50)).toEqual([]);
    expect(lines().filter((l) => l.msg === 'request aborted')).toEqual([
      expect.objectContaining({ level: 40, req: { id, method: 'POST', url: `/v1/organizations/${org}/probe` } }),
    ]);
  });

  it('answers a body longer than its Content-Length (the rest is no request) with problem+json, then closes', async () => {
    const { port } = t.app.getHttpServer().address() as { port: number };
    const body = '{"display_name":"probe"}';
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', () => undefined);
      socket.write(
        `POST /v1/organizations/${org}/probe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n${body}`,
      );
    });
    // The last answer on the connection (the first request's may precede it).
    const starts = [...answer.matchAll(/(?:^|\r\n)HTTP\/1\.1 \d{3} /g)].map((m) => m.index + (m[0].startsWith('\r\n') ? 2 : 0));
    const last = answer.slice(starts[starts.length - 1]);
    const [head, json] = last.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(head).toMatch(/\r\nx-content-type-options: nosniff/i);
    expect(JSON.parse(json)).toMatchObject({ status: 400, code: 'validation_failed', errors: [{ field: 'request', rule: 'request_must_be_valid_http' }] });
  });

  it('never logs the bearer token and tags every request with a request id', async () => {
    const res = await t.http
      .get(`/v1/organizations/${org}/probe?cursor=opaque-value&limit=2`)
      .set('Authorization', `Bearer ${token}`)
      .set('x-request-id', 'req-12345')
      .set('User-Agent', 'meander-spec/1');
    expect(res.headers['x-request-id']).toBe('req-12345');
    const all = t.logs.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]);
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.req?.id === 'req-12345');
    // The query's parameter names only; the user agent, which tells callers apart.
    expect(line).toMatchObject({
      req: { method: 'GET', url: `/v1/organizations/${org}/probe?cursor=[redacted]&limit=[redacted]`, user_agent: 'meander-spec/1' },
      res: { status: 200 },
    });
    // Without one, or with one that is no plausible id (it would end up in logs), a new one.
    for (const incoming of [undefined, 'two words', 'x'.repeat(200)]) {
      const req = t.http.get(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${token}`);
      const answer = await (incoming === undefined ? req : req.set('x-request-id', incoming));
      expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(t.logs.some((l) => JSON.parse(l).req?.id === answer.headers['x-request-id'])).toBe(true);
    }
  });
});

describe('TRUST_PROXY', () => {
  // One unauthenticated request per client address and minute: which requests share a budget
  // shows which address the service took for the client (loopback is the proxy here).
  const statuses = async (trustProxy: string | undefined, forwardedFor: string[]) => {
    const env: Record<string, string> = { RATE_LIMIT_PUBLIC_PER_MINUTE: '1', ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }) };
    const t = await startTestApp({ env });
    try {
      const answers: string[] = [];
      // Inbound webhooks are the unauthenticated routes (an unknown one is answered 404, once).
      for (const chain of forwardedFor)
        answers.push((await t.http.post(`/v1/webhooks/${randomUUID()}`).set('X-Forwarded-For', chain).send({})).status === 429 ? 'limited' : 'served');
      return answers;
    } finally {
      await t.close();
    }
  };

  it('takes the client address from the socket by default', async () => {
    expect(await statuses(undefined, ['203.0.113.9', '198.51.100.1'])).toEqual(['served', 'limited']);
  });

  it('takes it from X-Forwarded-For as far as the proxies are trusted', async () => {
    expect(await statuses('loopback', ['203.0.113.9', '198.51.100.1', '203.0.113.9'])).toEqual(['served', 'served', 'limited']);
    // A hop count, as Express counted it: one trusted hop names the last address of the chain...
    expect(await statuses('1', ['198.51.100.1, 203.0.113.9', '192.0.2.1, 203.0.113.9', '198.51.100.1, 192.0.2.7'])).toEqual(['served', 'limited', 'served']);
    // ...two, the one before it.
    expect(await statuses('2', ['198.51.100.1, 203.0.113.9', '192.0.2.1, 203.0.113.9', '198.51.100.1, 192.0.2.7'])).toEqual(['served', 'served', 'limited']);
  });
});
