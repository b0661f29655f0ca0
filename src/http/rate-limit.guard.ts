import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import { routeAccess, type RouteAccess } from '../auth/route-access';
import { TokenBucketLimiter } from '../common/rate-limiter';
import { RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { clientAddressKey } from '../common/client-address';
import type { HttpReply, HttpRequest } from './http-types';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Most keys (tokens, client IPs) remembered per budget; the least recently seen are dropped first. */
export const MAX_RATE_LIMIT_KEYS = 100_000;

type BudgetName = 'reads' | 'writes' | 'public';

interface Budget {
  perMinute: number;
  limiter: TokenBucketLimiter;
}

/**
 * Runs after AuthGuard (it needs the principal). Each request is counted against exactly one
 * budget: a write or a read against the token that made it, whatever the route, so one token
 * cannot spread a flood over many routes; a public route (inbound webhooks) against the client
 * IP (an IPv6 client by its /64, which it can otherwise hop through). Budgets are token buckets:
 * `perMinute` at once, refilled continuously; refused requests take nothing. The budget's state
 * goes back in RateLimit-Limit / -Remaining / -Reset headers.
 *
 * Synchronous and one route-metadata read per request: @nestjs/throttler's guard looked up six
 * decorators for each of the three budgets and awaited each step (~5 % of a GET's CPU).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly budgets: Record<BudgetName, Budget>;

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
  ) {
    const budget = (perMinute: number): Budget => ({
      perMinute,
      limiter: new TokenBucketLimiter({ capacity: perMinute, refillPerSecond: perMinute / 60, maxKeys: MAX_RATE_LIMIT_KEYS }),
    });
    this.budgets = {
      reads: budget(config.rateLimitReadsPerMinute),
      writes: budget(config.rateLimitWritesPerMinute),
      public: budget(config.rateLimitPublicPerMinute),
    };
  }

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequest & AuthenticatedRequest>();
    const name = budgetOf(request, routeAccess(this.reflector, context));
    if (!name) return true;
    const { perMinute, limiter } = this.budgets[name];
    const key = name === 'public' ? clientAddress(request) : tokenKey(request);
    const now = Date.now();
    const wait = limiter.take(key, now);
    const reply = http.getResponse<HttpReply>();
    reply.header('RateLimit-Limit', String(perMinute));
    if (wait > 0) {
      const seconds = Math.max(1, wait);
      // The problem filter writes a 429's Retry-After and RateLimit-* from it, as for every narrower limit.
      throw RuleViolation.rateLimited(`Too many requests: at most ${perMinute} per minute; retry in ${seconds} s.`, perMinute, seconds);
    }
    reply.header('RateLimit-Remaining', String(Math.floor(limiter.tokens(key, now))));
    reply.header('RateLimit-Reset', String(limiter.secondsUntilFull(key, now)));
    return true;
  }
}

/** The client's address as budgets count it: an IPv6 /64 is one client (one host usually holds all of it). */
export function clientAddress(request: HttpRequest): string {
  return clientAddressKey(request.ip ?? '');
}

function budgetOf(request: HttpRequest & AuthenticatedRequest, access: RouteAccess): BudgetName | null {
  if (access.isPublic) return access.notRateLimited ? null : 'public';
  if (!request.principal) return null;
  return WRITE_METHODS.has(request.method) ? 'writes' : 'reads';
}

/** Per token, by the digest the AuthGuard computed: it sets the principal and the digest together. */
function tokenKey(request: AuthenticatedRequest): string {
  if (request.tokenFingerprint === undefined) throw new Error('RateLimitGuard: a principal without its token fingerprint (AuthGuard sets both)');
  return request.tokenFingerprint;
}
