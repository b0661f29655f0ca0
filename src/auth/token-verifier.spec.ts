import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { Reflector } from '@nestjs/core';
import type { ExecutionContext } from '@nestjs/common';
import { RuleViolation } from '../common/rule-violation';
import { Roles } from './auth.decorators';
import type { AppConfig } from '../config/app-config';
import { AuthGuard } from './auth.guard';
import { Authenticator } from './authenticator';
import { DEFAULT_TOKEN_CACHE_SIZE, KeySetUnavailable, TokenRejected, TokenVerifier } from './token-verifier';

// The JWKS path (AUTH_JWKS_URL): real keys, a real HTTP server publishing them, real signatures.
describe('TokenVerifier with a JWKS', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  const keys: JWK[] = [];
  const org = randomUUID();
  const claims = { role: 'org_admin', org_id: org };
  const now = () => Math.floor(Date.now() / 1000);
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    keys.push({ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' });
    keys.push({ ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' });
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0], extra: { exp?: number; sub?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid })
      .setSubject(extra.sub ?? randomUUID())
      .setIssuedAt()
      .setExpirationTime(extra.exp ?? now() + 300)
      .sign(key);

  const rejection = async (token: string) => {
    const error = await new TokenVerifier({ jwksUrl: url }).verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TokenRejected);
    return (error as Error).message;
  };

  it('accepts RS256 and ES256 tokens signed by a published key, fetching the key set once', async () => {
    const verifier = new TokenVerifier({ jwksUrl: url });
    const before = fetches;
    const sub = randomUUID();
    await expect(verifier.verify(await sign('RS256', 'rsa-1', rsa.privateKey, { sub }))).resolves.toEqual({ sub, role: 'org_admin', orgId: org });
    await expect(verifier.verify(await sign('ES256', 'ec-1', ec.privateKey, { sub }))).resolves.toEqual({ sub, role: 'org_admin', orgId: org });
    for (let i = 0; i < 5; i++) await verifier.verify(await sign('RS256', 'rsa-1', rsa.privateKey));
    expect(fetches - before).toBe(1);
  });

  it('refuses HS256 (no shared secret once a JWKS is configured), even keyed with the public key', async () => {
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(keys[0]));
    expect(
      await rejection(
        await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
          .setSubject(randomUUID())
          .setExpirationTime(now() + 300)
          .sign(publicKeyAsSecret),
      ),
    ).toBe('the token is signed with an algorithm that is not accepted');
  });

  it('refuses an unsigned token, a key it does not publish, a forged signature and an expired token', async () => {
    expect(
      await rejection(
        new UnsecuredJWT(claims)
          .setSubject(randomUUID())
          .setExpirationTime(now() + 300)
          .encode(),
      ),
    ).toBe('the token is signed with an algorithm that is not accepted');
    const stranger = await generateKeyPair('RS256');
    expect(await rejection(await sign('RS256', 'unknown-kid', stranger.privateKey))).toBe('the token is signed with a key that is not published');
    expect(await rejection(await sign('RS256', 'rsa-1', stranger.privateKey))).toBe('the token signature is invalid');
    expect(await rejection(await sign('RS256', 'rsa-1', rsa.privateKey, { exp: now() - 120 }))).toBe('the token has expired');
  });

  describe('when the key set cannot be had', () => {
    let broken: Server;
    let brokenUrl: string;
    let answer: (res: import('node:http').ServerResponse) => void;

    beforeAll(async () => {
      broken = createServer((_req, res) => answer(res));
      await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
      brokenUrl = `http://127.0.0.1:${(broken.address() as { port: number }).port}/jwks.json`;
    });
    afterAll(() => new Promise<void>((resolve) => broken.close(() => resolve())));

    const outcome = async (jwksUrl: string) =>
      new TokenVerifier({ jwksUrl }).verify(await sign('RS256', 'rsa-1', rsa.privateKey)).then(
        () => undefined,
        (e: unknown) => e,
      );

    it('says so (KeySetUnavailable), not that the token is bad: 500, not JSON, malformed, unreachable', async () => {
      answer = (res) => res.writeHead(500).end('down');
      expect(await outcome(brokenUrl)).toBeInstanceOf(KeySetUnavailable);
      answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
      expect(await outcome(brokenUrl)).toBeInstanceOf(KeySetUnavailable);
      answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": 3}');
      expect(await outcome(brokenUrl)).toBeInstanceOf(KeySetUnavailable);
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const deadUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}/jwks.json`;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      expect(await outcome(deadUrl)).toBeInstanceOf(KeySetUnavailable);
    });

    it('makes the guard answer 503 service_unavailable, not 401', async () => {
      answer = (res) => res.writeHead(503).end();
      const guard = new AuthGuard(new Reflector(), authenticator(new TokenVerifier({ jwksUrl: brokenUrl })));
      const request = { query: {}, headers: { authorization: `Bearer ${await sign('RS256', 'rsa-1', rsa.privateKey)}` } };
      const context = { getHandler: () => () => undefined, getClass: () => class {}, switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
      const error = await Promise.resolve()
        .then(() => guard.canActivate(context))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(RuleViolation);
      expect(error).toMatchObject({ rule: 'service_unavailable', status: 503 });
    });
  });
});

// Remembered verdicts: a token's signature is checked once, not on every request, and the cache
// never extends a token's life or remembers a refusal. Counted on the real WebCrypto verify.
describe('TokenVerifier remembers verified tokens', () => {
  const secret = 'verdict-spec-secret-of-enough-length-0123456789';
  const org = randomUUID();
  const hs256 = (exp: number, key = secret) =>
    new SignJWT({ role: 'org_admin', org_id: org }).setProtectedHeader({ alg: 'HS256' }).setSubject(randomUUID()).setExpirationTime(exp).sign(new TextEncoder().encode(key));
  const seconds = () => Math.floor(Date.now() / 1000);
  let checks: jest.SpyInstance;

  beforeEach(() => {
    // Only the clock is faked: WebCrypto's jobs and the promise machinery run for real.
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'],
    });
    checks = jest.spyOn(globalThis.crypto.subtle, 'verify');
  });
  afterEach(() => {
    checks.mockRestore();
    jest.useRealTimers();
  });

  it('checks the signature of a token once, then answers from memory', async () => {
    const verifier = new TokenVerifier({ secret });
    const token = await hs256(seconds() + 3600);
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first);
    expect(await verifier.verify(token)).toEqual({ sub: first.sub, role: 'org_admin', orgId: org });
    expect(checks).toHaveBeenCalledTimes(1);
    expect(verifier.rememberedVerdicts).toBe(1);
    await verifier.verify(await hs256(seconds() + 3600));
    expect(checks).toHaveBeenCalledTimes(2);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('checks every time when the cache is off (AUTH_TOKEN_CACHE_SIZE=0)', async () => {
    const verifier = new TokenVerifier({ secret, verdicts: { maxEntries: 0 } });
    const token = await hs256(seconds() + 3600);
    for (let i = 0; i < 3; i++) await verifier.verify(token);
    expect(checks).toHaveBeenCalledTimes(3);
    expect(verifier.rememberedVerdicts).toBe(0);
  });

  it('keeps the default bound when a limit is given as undefined', async () => {
    const verifier = new TokenVerifier({ secret, verdicts: { maxEntries: undefined, maxAgeMs: 60_000 } });
    await verifier.verify(await hs256(seconds() + 3600));
    expect(verifier.rememberedVerdicts).toBe(1);
    expect((verifier as unknown as { verdictLimits: { maxEntries: number } }).verdictLimits.maxEntries).toBe(DEFAULT_TOKEN_CACHE_SIZE);
  });

  it('refuses limits that would leave the cache unbounded', () => {
    for (const maxEntries of [Number.NaN, -1, 1.5, Infinity]) expect(() => new TokenVerifier({ secret, verdicts: { maxEntries } })).toThrow(/maxEntries/);
    expect(new TokenVerifier({ secret, verdicts: { maxEntries: undefined } })).toBeInstanceOf(TokenVerifier);
  });

  it('never remembers a refused token', async () => {
    const verifier = new TokenVerifier({ secret });
    const forged = await hs256(seconds() + 3600, 'another-secret-of-enough-length-0123456789');
    for (let i = 0; i < 2; i++) await expect(verifier.verify(forged)).rejects.toThrow('the token signature is invalid');
    expect(checks).toHaveBeenCalledTimes(2);
    expect(verifier.rememberedVerdicts).toBe(0);
  });

  it('refuses a remembered token once it expires (with the same 60 s of skew as the check)', async () => {
    const verifier = new TokenVerifier({ secret });
    const start = Date.now();
    const token = await hs256(seconds() + 10);
    await verifier.verify(token);
    jest.setSystemTime(start + 65_000);
    await expect(verifier.verify(token)).resolves.toMatchObject({ orgId: org });
    jest.setSystemTime(start + 71_000);
    await expect(verifier.verify(token)).rejects.toThrow('the token has expired');
    expect(verifier.rememberedVerdicts).toBe(0);
  });

  it('checks a token again after the maximum age, and keeps at most maxEntries verdicts', async () => {
    const verifier = new TokenVerifier({ secret, verdicts: { maxEntries: 2, maxAgeMs: 1_000 } });
    const start = Date.now();
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => hs256(seconds() + 3600)));
    await verifier.verify(a);
    jest.setSystemTime(start + 999);
    await verifier.verify(a);
    expect(checks).toHaveBeenCalledTimes(1);
    jest.setSystemTime(start + 1_001);
    await verifier.verify(a);
    expect(checks).toHaveBeenCalledTimes(2);

    await verifier.verify(b);
    await verifier.verify(c);
    expect(verifier.rememberedVerdicts).toBe(2);
    expect(checks).toHaveBeenCalledTimes(4);
    await verifier.verify(a); // the oldest verdict went first
    expect(checks).toHaveBeenCalledTimes(5);
    await verifier.verify(c);
    expect(checks).toHaveBeenCalledTimes(5);
  });

  it('lets the guard admit a remembered token without a promise, its role still checked on every request', async () => {
    class Routes {
      @Roles('org_admin')
      read(): void {}
      @Roles('sync_service')
      sync(): void {}
    }
    const guard = new AuthGuard(new Reflector(), authenticator(new TokenVerifier({ secret })));
    const token = await hs256(seconds() + 3600);
    const request = { query: {}, headers: { authorization: `Bearer ${token}` } } as { query: object; headers: object; principal?: { orgId: string | null } };
    const context = (handler: () => void) =>
      ({ getHandler: () => handler, getClass: () => Routes, switchToHttp: () => ({ getRequest: () => request }) }) as unknown as ExecutionContext;
    const first = guard.canActivate(context(Routes.prototype.read));
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe(true);
    expect(guard.canActivate(context(Routes.prototype.read))).toBe(true);
    expect(request.principal?.orgId).toBe(org);
    expect(() => guard.canActivate(context(Routes.prototype.sync))).toThrow(RuleViolation);
    expect(checks).toHaveBeenCalledTimes(1);
  });
});

function authenticator(verifier: TokenVerifier): Authenticator {
  return new Authenticator(verifier, { rateLimitUnauthenticatedPerMinute: 1000 } as AppConfig);
}
