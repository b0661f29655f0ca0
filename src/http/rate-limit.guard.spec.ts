import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { NotRateLimited, Public, Roles } from '../auth/auth.decorators';
import type { AppConfig } from '../config/app-config';
import { RuleViolation } from '../common/rule-violation';
import { MAX_RATE_LIMIT_KEYS, RateLimitGuard, RateLimits } from './rate-limit.guard';

class Routes {
  @Roles('org_admin') read() {}
  @Public() webhook() {}
  @Public() @NotRateLimited() probe() {}
}

const config = { rateLimitReadsPerMinute: 3, rateLimitWritesPerMinute: 2, rateLimitPublicPerMinute: 2 } as AppConfig;

function call(guard: RateLimitGuard, handler: keyof Routes, request: { method?: string; ip?: string; authorization?: string; principal?: boolean }) {
  const headers: Record<string, string> = {};
  const req = {
    method: request.method ?? 'GET',
    url: '/',
    ip: request.ip,
    headers: { authorization: request.authorization },
    ...(request.principal ? { principal: { sub: 's', role: 'org_admin', orgId: null }, tokenFingerprint: `digest of ${request.authorization}` } : {}),
  };
  const context = {
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({ header: (name: string, value: string) => (headers[name] = value), status: () => undefined }) }),
  } as unknown as ExecutionContext;
  try {
    return { allowed: guard.canActivate(context), headers };
  } catch (error) {
    return { allowed: false, error: error as RuleViolation, headers };
  }
}

describe('RateLimitGuard', () => {
  it('counts reads and writes of a token on budgets of their own, with the budget in RateLimit headers', () => {
    const guard = new RateLimitGuard(new Reflector(), new RateLimits(config));
    const token = { authorization: 'Bearer a', principal: true };
    expect(call(guard, 'read', token)).toEqual({ allowed: true, headers: { 'RateLimit-Limit': '3', 'RateLimit-Remaining': '2', 'RateLimit-Reset': '20' } });
    call(guard, 'read', token);
    call(guard, 'read', token);
    const refused = call(guard, 'read', token);
    // The refusal carries its limit and wait: the problem filter writes Retry-After and RateLimit-Remaining/Reset from them.
    expect(refused.error).toMatchObject({ rule: 'rate_limited', status: 429, rateLimit: 3, retryAfterSeconds: 20 });
    expect(refused.headers).toEqual({ 'RateLimit-Limit': '3' });
    // Writes of the same token, and reads of another, go on.
    expect(call(guard, 'read', { ...token, method: 'POST' }).headers).toMatchObject({ 'RateLimit-Limit': '2', 'RateLimit-Remaining': '1' });
    expect(call(guard, 'read', { authorization: 'Bearer b', principal: true }).allowed).toBe(true);
  });

  it('refills a budget continuously: one request per 60 / limit seconds', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const guard = new RateLimitGuard(new Reflector(), new RateLimits(config));
      const token = { authorization: 'Bearer a', principal: true };
      for (let i = 0; i < 3; i++) call(guard, 'read', token);
      expect(call(guard, 'read', token).error).toMatchObject({ rule: 'rate_limited' });
      jest.advanceTimersByTime(19_000);
      expect(call(guard, 'read', token).error).toMatchObject({ rule: 'rate_limited' });
      jest.advanceTimersByTime(1_000);
      expect(call(guard, 'read', token)).toMatchObject({ allowed: true, headers: { 'RateLimit-Remaining': '0', 'RateLimit-Reset': '60' } });
    } finally {
      jest.useRealTimers();
    }
  });

  it('remembers at most MAX_RATE_LIMIT_KEYS clients per budget, whatever their number', () => {
    const limits = new RateLimits(config);
    const guard = new RateLimitGuard(new Reflector(), limits);
    for (let i = 0; i < MAX_RATE_LIMIT_KEYS + 50; i++) call(guard, 'webhook', { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
    const budgets = (limits as unknown as { budgets: Record<string, { limiter: { size: number } }> }).budgets;
    expect(budgets['public'].limiter.size).toBe(MAX_RATE_LIMIT_KEYS);
  });

  it('refuses to guess a key for a principal the AuthGuard did not set (no token digest)', () => {
    const guard = new RateLimitGuard(new Reflector(), new RateLimits(config));
    const context = {
      getHandler: () => Routes.prototype.read,
      getClass: () => Routes,
      switchToHttp: () => ({
        getRequest: () => ({ method: 'GET', headers: {}, principal: { sub: 's', role: 'org_admin', orgId: null } }),
        getResponse: () => ({ header: () => undefined }),
      }),
    } as unknown as ExecutionContext;
    expect(() => guard.canActivate(context)).toThrow(/without its token fingerprint/);
  });

  it('does not count a request without a principal (refused before its token was known)', () => {
    const guard = new RateLimitGuard(new Reflector(), new RateLimits(config));
    expect(call(guard, 'read', { authorization: 'Bearer bad' })).toEqual({ allowed: true, headers: {} });
  });

  it('counts public routes per client address, an IPv6 client by its /64; unmetered routes not at all', () => {
    const guard = new RateLimitGuard(new Reflector(), new RateLimits(config));
    expect(call(guard, 'webhook', { ip: '2001:db8:1:2::1' }).allowed).toBe(true);
    expect(call(guard, 'webhook', { ip: '2001:db8:1:2:ffff::9' }).allowed).toBe(true);
    expect(call(guard, 'webhook', { ip: '2001:db8:1:2::7' }).error).toMatchObject({ rule: 'rate_limited' });
    expect(call(guard, 'webhook', { ip: '2001:db8:1:3::1' }).allowed).toBe(true);
    expect(call(guard, 'webhook', { ip: '192.0.2.1' }).allowed).toBe(true);
    for (let i = 0; i < 5; i++) expect(call(guard, 'probe', { ip: '192.0.2.1' })).toEqual({ allowed: true, headers: {} });
  });
});
