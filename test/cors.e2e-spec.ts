import { startTestApp, type TestApp } from './support/test-app';

describe('CORS', () => {
  let open: TestApp;
  let closed: TestApp;

  beforeAll(async () => {
    open = await startTestApp({ env: { CORS_ORIGINS: 'https://admin.example, http://localhost:5173' } });
    closed = await startTestApp();
  });
  afterAll(async () => {
    await open.close();
    await closed.close();
  });

  it('answers a preflight from a listed origin with that origin (never *), the API headers and a max age', async () => {
    const res = await open.http
      .options('/v1/organizations/0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b/integrations')
      .set('Origin', 'https://admin.example')
      .set('Access-Control-Request-Method', 'PATCH')
      .set('Access-Control-Request-Headers', 'authorization,if-match,if-none-match,content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://admin.example');
    expect(res.headers['access-control-allow-methods']).toContain('PATCH');
    expect(res.headers['access-control-allow-headers']).toMatch(/Authorization.*If-Match.*If-None-Match/);
    expect(res.headers['access-control-max-age']).toBe('600');

    const read = await open.http.get('/health/live').set('Origin', 'http://localhost:5173');
    expect(read.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(read.headers['access-control-expose-headers']).toContain('RateLimit-Remaining');
  });

  it('answers an OPTIONS that is no preflight (no Access-Control-Request-Method) with 204, not an error', async () => {
    const res = await open.http.options('/v1/integration-types').set('Origin', 'https://admin.example');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://admin.example');
  });

  it('sends no CORS headers to other origins, nor at all when CORS_ORIGINS is unset', async () => {
    const stranger = await open.http.get('/health/live').set('Origin', 'https://evil.example');
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    const unset = await closed.http.get('/health/live').set('Origin', 'https://admin.example');
    expect(unset.headers['access-control-allow-origin']).toBeUndefined();
  });
});
