import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_SECURITY_HEADERS, DOCS_SECURITY_HEADERS, isDocsPath } from '../src/app.factory';
import { issueToken } from '../src/auth/issue-token';
import { killAllChildren, spawnEmbeddedPostgres, startServiceProcess, waitForExit } from './support/child-processes';
import { startXledgerFake } from './support/fakes/xledger-fake';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { testCertificate } from './support/tls';
import { waitFor } from './support/wait';

describe('health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('live and ready answer 200 without a token', async () => {
    expect((await t.http.get('/health/live')).body).toEqual({ status: 'ok' });
    expect((await t.http.get('/health/ready')).body).toEqual({ status: 'ok', database: 'up' });
  });

  it("sends security headers on every kind of response: the REST set on the API, helmet's on the Swagger UI; no x-powered-by", async () => {
    expect(API_SECURITY_HEADERS).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
    expect(API_SECURITY_HEADERS['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(API_SECURITY_HEADERS['strict-transport-security']).toContain('max-age=');
    // Tenant data and secrets shown once are never kept by a cache.
    expect(API_SECURITY_HEADERS['cache-control']).toBe('no-store');
    expect(DOCS_SECURITY_HEADERS).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer' });
    expect(DOCS_SECURITY_HEADERS['content-security-policy']).toContain("script-src 'self'");
    // A route, a refusal, an unknown path, the Swagger UI page and one of its assets (served by @fastify/static).
    const cases = [
      ['/health/live', 200, API_SECURITY_HEADERS],
      ['/v1/integration-types', 401, API_SECURITY_HEADERS],
      ['/v1/no-such-route', 404, API_SECURITY_HEADERS],
      ['/docs', 200, DOCS_SECURITY_HEADERS],
      ['/docs/swagger-ui.css', 200, DOCS_SECURITY_HEADERS],
      ['/docs-json', 200, DOCS_SECURITY_HEADERS],
    ] as const;
    for (const [path, status, headers] of cases) {
      const res = await t.http.get(path);
      expect([path, res.status]).toEqual([path, status]);
      for (const [name, value] of Object.entries(headers)) expect([path, name, res.headers[name]]).toEqual([path, name, value]);
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
    // The HTML-only headers stay off JSON answers.
    expect((await t.http.get('/health/live')).headers['cross-origin-opener-policy']).toBeUndefined();
  });

  it('tells the Swagger UI paths from the API by their first segment', () => {
    for (const url of ['/docs', '/docs/', '/docs/index.html', '/Docs/x.css', '/docs?x=1', '/docs-json', '/docs-yaml']) expect([url, isDocsPath(url)]).toEqual([url, true]);
    for (const url of ['/', '/doc', '/docsx', '/v1/docs', '/health/live']) expect([url, isDocsPath(url)]).toEqual([url, false]);
  });

  it('bounds how long a client may take to send a request', () => {
    const server = t.app.getHttpServer();
    expect(server.requestTimeout).toBe(60_000);
    expect(server.headersTimeout).toBe(20_000);
  });
});

describe('readiness when the database goes away', () => {
  // A database of its own, so stopping it does not disturb the other specs.
  let db: { url: string; stop(): Promise<void> };
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'meander-health-'));
    db = await spawnEmbeddedPostgres(dataDir);
    t = await startTestApp({ env: { DATABASE_URL: db.url, LOG_LEVEL: 'info' }, captureLogs: true });
  }, 60_000);
  afterAll(async () => {
    try {
      await t?.close().catch(() => undefined);
      await db?.stop();
    } finally {
      killAllChildren();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('answers 503 problem+json when the database is down, while live stays 200', async () => {
    expect((await t.http.get('/health/ready')).status).toBe(200);
    await db.stop();
    const res = await t.http.get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('service_unavailable');
    expect((await t.http.get('/health/live')).status).toBe(200);
    // The probe's own line is a warning (it is one in every drain too); the outage is an error line of its own.
    const lines = t.logs.map((line) => JSON.parse(line) as { level: number; msg: string; event?: string });
    expect(lines.filter((line) => line.event === 'readiness_database_unreachable')).toEqual([expect.objectContaining({ level: 50, msg: 'database not reachable' })]);
    expect(lines.filter((line) => line.msg === 'not ready').map((line) => line.level)).toEqual([40]);
  });
});

describe('readiness during a graceful shutdown (the real process, SIGTERM)', () => {
  afterAll(() => killAllChildren());

  it('answers 503 from SIGTERM on while the instance drains, so a load balancer stops sending before the listener closes', async () => {
    const { caFile } = await testCertificate();
    const apiKey = `xl-${randomBytes(24).toString('base64url')}`;
    const fake = await startXledgerFake({ apiKey });
    try {
      const service = await startServiceProcess({ DELIVERY_WORKERS: '1', EGRESS_ALLOW_PRIVATE: 'true', NODE_EXTRA_CA_CERTS: caFile });
      const org = randomUUID();
      const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org });
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${service.base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as any };
      };
      const configs = `/v1/organizations/${org}/integrations`;
      const config = await call('POST', configs, {
        integration_type: 'xledger',
        display_name: 'X',
        base_url: fake.url,
        api_key: apiKey,
        enabled: true,
        sync_frequency: 'realtime',
      });
      expect(config.status).toBe(201);
      const mappings = [
        { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
        { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
        { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
      ];
      expect((await call('POST', `${configs}/${config.body.id}/field-mappings/bulk`, { items: mappings })).status).toBe(201);
      // A delivery attempt the vendor holds: SIGTERM waits for it (before the listener closes).
      const held = fake.holdNext();
      const records = [{ claim_id: randomUUID(), expense_type: 'travel_km', expense_amount: 12.5, expense_date: '2026-11-20' }];
      expect((await call('POST', `${configs}/${config.body.id}/exports`, { records, deliver: true })).status).toBe(202);
      expect(
        await waitFor(
          () => fake.requests.length,
          (n) => n > 0,
          30_000,
        ),
      ).toBe(1);
      expect((await call('GET', '/health/ready')).status).toBe(200);

      service.child.kill('SIGTERM');
      const ready = await waitFor(
        () => call('GET', '/health/ready'),
        (res) => res.status !== 200,
        5_000,
      );
      expect(ready).toMatchObject({ status: 503, type: expect.stringMatching(/^application\/problem\+json/), body: { code: 'service_unavailable' } });
      // Still serving meanwhile (the load balancer needs a moment to notice): the process is alive and answers the API.
      expect((await call('GET', '/health/live')).status).toBe(200);
      expect((await call('GET', configs)).status).toBe(200);
      expect(service.child.exitCode).toBeNull();

      held.release();
      expect(await waitForExit(service.child, 60_000)).toBe(0);
      // The probe's 503 is it doing its job: a warning, not an error line that would page someone on every deploy.
      const probeLines = service
        .stdout()
        .split('\n')
        .filter((line) => line.includes('"/health/ready"'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; res?: { statusCode?: number; status?: number } });
      const refused = probeLines.filter((line) => (line.res?.statusCode ?? line.res?.status) === 503);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.map((line) => ({ level: line.level, msg: line.msg }))).toEqual(refused.map(() => ({ level: 40, msg: 'not ready' })));
    } finally {
      await fake.close();
    }
  }, 120_000);
});
