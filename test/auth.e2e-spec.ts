import { randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { newOrgId, startTestApp, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { ProbeModule } from './support/probe.module';

const secret = new TextEncoder().encode(TEST_JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);

function sign(claims: Record<string, unknown>, options: { alg?: string; exp?: number | null; nbf?: number; iat?: number; key?: Uint8Array } = {}) {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setSubject(randomUUID())
    .setIssuedAt(options.iat);
  if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? now() + 600);
  if (options.nbf !== undefined) jwt = jwt.setNotBefore(options.nbf);
  return jwt.sign(options.key ?? secret);
}

describe('authentication and organization scope (HTTP, real guards)', () => {
  let t: TestApp;
  const orgA = newOrgId();
  const orgB = newOrgId();

  beforeAll(async () => {
    t = await startTestApp({ imports: [ProbeModule], captureLogs: true });
  });
  afterAll(() => t.close());

  const probe = (org: string) => `/v1/organizations/${org}/probe`;
  const expectUnauthorized = async (headers: Record<string, string>, path = probe(orgA)) => {
    const res = await t.http.get(path).set(headers);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('unauthorized');
    return res;
  };

  it('accepts a valid org_admin token for its own organization', async () => {
    const res = await t.http.get(probe(orgA)).set('Authorization', `Bearer ${await t.token('org_admin', orgA)}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ org_id: orgA, role: 'org_admin' });
  });

  it('refuses a request without a token', () => expectUnauthorized({}));
  it('refuses a malformed Authorization header', () => expectUnauthorized({ Authorization: 'Basic abc' }));
  it('refuses garbage in place of a JWT', () => expectUnauthorized({ Authorization: 'Bearer not.a.jwt' }));

  it('refuses alg: none', async () => {
    const token = new UnsecuredJWT({ role: 'org_admin', org_id: orgA }).setSubject(randomUUID()).setExpirationTime('10m').encode();
    await expectUnauthorized({ Authorization: `Bearer ${token}` });
  });

  it('refuses another algorithm (HS512) even with the right secret', async () => {
    const token = await sign({ role: 'org_admin', org_id: orgA }, { alg: 'HS512' });
    const res = await expectUnauthorized({ Authorization: `Bearer ${token}` });
    expect(res.body.detail).toMatch(/algorithm/);
  });

  it('refuses a bad signature', async () => {
    const token = await sign({ role: 'org_admin', org_id: orgA }, { key: new TextEncoder().encode('another-secret-of-at-least-32-bytes!!') });
    await expectUnauthorized({ Authorization: `Bearer ${token}` });
  });

  it('refuses an expired token beyond the 60 s skew, accepts one within it', async () => {
    const expired = await sign({ role: 'org_admin', org_id: orgA }, { exp: now() - 120 });
    const res = await expectUnauthorized({ Authorization: `Bearer ${expired}` });
    expect(res.body.detail).toMatch(/expired/);
    const withinSkew = await sign({ role: 'org_admin', org_id: orgA }, { exp: now() - 20 });
    expect((await t.http.get(probe(orgA)).set('Authorization', `Bearer ${withinSkew}`)).status).toBe(200);
  });

  it('refuses a token without exp', async () => {
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'org_admin', org_id: orgA }, { exp: null })}` });
  });

  it('refuses a token issued in the future (iat beyond the 60 s skew), admits one within it', async () => {
    const yearAhead = await sign({ role: 'org_admin', org_id: orgA }, { iat: now() + 365 * 86_400, exp: now() + 366 * 86_400 });
    const res = await expectUnauthorized({ Authorization: `Bearer ${yearAhead}` });
    expect(res.body.detail).toMatch(/"iat"/);
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'org_admin', org_id: orgA }, { iat: now() + 120 })}` });
    const withinSkew = await sign({ role: 'org_admin', org_id: orgA }, { iat: now() + 30 });
    expect((await t.http.get(probe(orgA)).set('Authorization', `Bearer ${withinSkew}`)).status).toBe(200);
  });

  // Nothing revokes a token: its exp is all that ends a leaked one. One that lives a century is a password.
  it('refuses a token that lives longer than AUTH_JWT_MAX_LIFETIME_SECONDS (30 days), with iat or without; admits 30 days', async () => {
    const day = 86_400;
    const century = await sign({ role: 'org_admin', org_id: orgA }, { iat: now(), exp: now() + 100 * 365 * day });
    const res = await expectUnauthorized({ Authorization: `Bearer ${century}` });
    expect(res.body.detail).toMatch(/lives longer than the 2592000 s accepted/);
    // Issued 10 days ago for 35 days: 25 left, but it was issued for longer than the service accepts.
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'org_admin', org_id: orgA }, { iat: now() - 10 * day, exp: now() + 25 * day })}` });
    // Without iat the lifetime left counts (exp − now), with the same 60 s of skew.
    const noIat = (exp: number) =>
      new SignJWT({ role: 'org_admin', org_id: orgA }).setProtectedHeader({ alg: 'HS256' }).setSubject(randomUUID()).setExpirationTime(exp).sign(secret);
    await expectUnauthorized({ Authorization: `Bearer ${await noIat(now() + 31 * day)}` });
    expect((await t.http.get(probe(orgA)).set('Authorization', `Bearer ${await noIat(now() + 30 * day + 30)}`)).status).toBe(200);
    // The longest the token command issues (--ttl 2592000) is accepted.
    const month = await sign({ role: 'org_admin', org_id: orgA }, { iat: now(), exp: now() + 30 * day });
    expect((await t.http.get(probe(orgA)).set('Authorization', `Bearer ${month}`)).status).toBe(200);
  });

  it('matches the Bearer scheme case-insensitively (RFC 9110)', async () => {
    const token = await t.token('org_admin', orgA);
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      expect([scheme, (await t.http.get(probe(orgA)).set('Authorization', `${scheme} ${token}`)).status]).toEqual([scheme, 200]);
    }
    await expectUnauthorized({ Authorization: `Bearerx ${token}` });
  });

  it('refuses a token that is not yet valid (nbf beyond the skew)', async () => {
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'org_admin', org_id: orgA }, { nbf: now() + 300 })}` });
  });

  it('refuses unknown roles and org_admin tokens without a UUID org_id', async () => {
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'superuser', org_id: orgA })}` });
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'org_admin' })}` });
    await expectUnauthorized({ Authorization: `Bearer ${await sign({ role: 'org_admin', org_id: 'acme' })}` });
  });

  it('refuses a token in the query string, even a valid one', async () => {
    const token = await t.token('org_admin', orgA);
    const res = await t.http.get(`${probe(orgA)}?access_token=${token}`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/query string/);
  });

  it('gives an org_admin 403 org_scoped_access_only under another organization', async () => {
    const token = await t.token('org_admin', orgA);
    for (const req of [t.http.get(probe(orgB)), t.http.post(probe(orgB)).send({ display_name: 'x', sync_frequency: 'manual' })]) {
      const res = await req.set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('org_scoped_access_only');
    }
  });

  it('lets global_admin read any organization but never write', async () => {
    const token = await t.token('global_admin');
    const read = await t.http.get(probe(orgB)).set('Authorization', `Bearer ${token}`);
    expect(read.status).toBe(200);
    // The route lists global_admin among its roles: the org-scope guard still refuses the write.
    const write = await t.http.post(probe(orgB)).set('Authorization', `Bearer ${token}`).send({ display_name: 'x', sync_frequency: 'manual' });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('forbidden');
  });

  it('lets sync_service reach any organization and only the routes that list it', async () => {
    const token = await t.token('sync_service');
    expect((await t.http.get(probe(orgB)).set('Authorization', `Bearer ${token}`)).status).toBe(200);
    expect((await t.http.post('/v1/probe/sync-only').set('Authorization', `Bearer ${token}`)).status).toBe(201);
    const adminTry = await t.http.post('/v1/probe/sync-only').set('Authorization', `Bearer ${await t.token('org_admin', orgA)}`);
    expect(adminTry.status).toBe(403);
  });

  it('denies by default a route that declares no roles', async () => {
    const res = await t.http.get('/v1/probe/undeclared').set('Authorization', `Bearer ${await t.token('org_admin', orgA)}`);
    expect(res.status).toBe(403);
    expect(res.body.reached).toBeUndefined();
  });

  it('answers 404 for a malformed organization id (global_admin)', async () => {
    const res = await t.http.get(probe('not-a-uuid')).set('Authorization', `Bearer ${await t.token('global_admin')}`);
    expect(res.status).toBe(404);
  });

  it('audits every refusal as a structured event, without the token', async () => {
    const logsBefore = t.logs.length;
    const bad = await sign({ role: 'org_admin', org_id: orgA }, { alg: 'HS512' });
    await t.http.get(probe(orgA)).set('Authorization', `Bearer ${bad}`);
    const token = await t.token('org_admin', orgA);
    await t.http.get(probe(orgB)).set('Authorization', `Bearer ${token}`);
    // This test's lines only: earlier tests refused the same kinds of requests.
    const events = t.logs
      .slice(logsBefore)
      .map((line) => JSON.parse(line))
      .filter((line) => line.event === 'authentication_refused' || line.event === 'authorization_refused');
    expect(events).toHaveLength(2);
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          event: 'authentication_refused',
          code: 'unauthorized',
          req: expect.objectContaining({ method: 'GET', url: `/v1/organizations/${orgA}/probe` }),
          actor: null,
        }),
        expect.objectContaining({
          event: 'authorization_refused',
          code: 'org_scoped_access_only',
          org_id: orgB,
          req: expect.objectContaining({ method: 'GET', url: `/v1/organizations/${orgB}/probe` }),
          actor: expect.objectContaining({ role: 'org_admin', org_id: orgA }),
        }),
      ]),
    );
    const all = t.logs.join('\n');
    expect(all).not.toContain(bad);
    expect(all).not.toContain(token);
  });

  it('health and docs need no token', async () => {
    expect((await t.http.get('/health/live')).status).toBe(200);
    expect((await t.http.get('/docs-json')).status).toBe(200);
  });
});

describe('AUTH_JWT_MAX_LIFETIME_SECONDS, when configured', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ imports: [ProbeModule], env: { AUTH_JWT_MAX_LIFETIME_SECONDS: '3600' } });
  });
  afterAll(() => t.close());

  it('admits a token of an hour, refuses one of an hour and a minute', async () => {
    const org = newOrgId();
    const at = (token: string) => t.http.get(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${token}`);
    expect((await at(await sign({ role: 'org_admin', org_id: org }, { iat: now(), exp: now() + 3600 }))).status).toBe(200);
    const longer = await at(await sign({ role: 'org_admin', org_id: org }, { iat: now(), exp: now() + 3660 }));
    expect(longer.status).toBe(401);
    expect(longer.body.detail).toMatch(/lives longer than the 3600 s accepted/);
  });
});

describe('issuer and audience, when configured', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ imports: [ProbeModule], env: { AUTH_JWT_ISSUER: 'https://id.meander.example', AUTH_JWT_AUDIENCE: 'integrations' } });
  });
  afterAll(() => t.close());

  it('accepts the configured iss/aud and refuses others', async () => {
    const org = newOrgId();
    const good = await t.token('org_admin', org);
    expect((await t.http.get(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${good}`)).status).toBe(200);
    const noIss = await sign({ role: 'org_admin', org_id: org, aud: 'integrations' });
    expect((await t.http.get(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${noIss}`)).status).toBe(401);
    const wrongAud = await sign({ role: 'org_admin', org_id: org, iss: 'https://id.meander.example', aud: 'billing' });
    expect((await t.http.get(`/v1/organizations/${org}/probe`).set('Authorization', `Bearer ${wrongAud}`)).status).toBe(401);
  });
});
