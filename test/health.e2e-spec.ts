import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_SECURITY_HEADERS, DOCS_SECURITY_HEADERS, isDocsPath } from '../src/app.factory';
import { killAllChildren, spawnEmbeddedPostgres } from './support/child-processes';
import { startTestApp, type TestApp } from './support/test-app';

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
    t = await startTestApp({ env: { DATABASE_URL: db.url } });
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
  });
});
