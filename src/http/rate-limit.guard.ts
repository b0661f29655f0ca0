import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import { routeAccess, type RouteAccess } from '../auth/route-access';
import { TokenBucketLimiter } from '../common/rate-limiter';
import { RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { clientAddressKey } from '../common/client-address';
import { isAuthenticatedRoute } from './authenticate-before-body';
import type { HttpReply, HttpRequest } from './http-types';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Most keys (tokens, client IPs) remembered per budget; the least recently seen are dropped first. */
export const MAX_RATE_LIMIT_KEYS = 100_000;

export type BudgetName = 'reads' | 'writes' | 'public';

interface Budget {
  perMinute: number;
  limiter: TokenBucketLimiter;
}

/** A request whose budget was taken before its body was read (limitBeforeBody): the guard does not take it again. */
export interface RateLimitedRequest {
  rateLimitTaken?: boolean;
}

/**
 * The three budgets, one per application. Each request is counted against exactly one: a write or
 * a read against the token that made it, whatever the route, so one token cannot spread a flood
 * over many routes; a public route (inbound webhooks) against the client IP (an IPv6 client by its
 * /64, which it can otherwise hop through). Budgets are token buckets: `perMinute` at once,
 * refilled continuously; refused requests take nothing. The budget's state goes back in
 * RateLimit-Limit / -Remaining / -Reset headers.
 */
@Injectable()
export class RateLimits {
  private readonly budgets: Record<BudgetName, Budget>;

  constructor(config: AppConfig) {
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

  /** Takes the request from budget `name`, or throws 429 (rate_limited) when it is spent. */
  take(name: BudgetName, request: HttpRequest & AuthenticatedRequest & RateLimitedRequest, reply: HttpReply): void {
    const { perMinute, limiter } = this.budgets[name];
    const key = name === 'public' ? clientAddress(request) : tokenKey(request);
    const now = Date.now();
    const wait = limiter.take(key, now);
    reply.header('RateLimit-Limit', String(perMinute));
    if (wait > 0) {
      const seconds = Math.max(1, wait);
      // The problem filter writes a 429's Retry-After and RateLimit-* from it, as for every narrower limit.
      throw RuleViolation.rateLimited(`Too many requests: at most ${perMinute} per minute; retry in ${seconds} s.`, perMinute, seconds);
    }
    request.rateLimitTaken = true;
    reply.header('RateLimit-Remaining', String(Math.floor(limiter.tokens(key, now))));
    reply.header('RateLimit-Reset', String(limiter.secondsUntilFull(key, now)));
  }
}

/**
 * Runs after AuthGuard (it needs the principal), for the requests the first hooks did not count
 * (a host application's adapter has no such hooks; a route without a route flag).
 *
 * Synchronous and one route-metadata read per request: @nestjs/throttler's guard looked up six
 * decorators for each of the three budgets and awaited each step (~5 % of a GET's CPU).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: RateLimits,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequest & AuthenticatedRequest & RateLimitedRequest>();
    if (request.rateLimitTaken) return true;
    const name = budgetOf(request, routeAccess(this.reflector, context));
    if (name) this.limits.take(name, request, http.getResponse<HttpReply>());
    return true;
  }
}

/** The client's address as budgets count it: an IPv6 /64 is one client (one host usually holds all of it). */
export function clientAddress(request: HttpRequest): string {
  return clientAddressKey(request.ip ?? '');
}

function budgetOf(request: HttpRequest & AuthenticatedRequest, access: Pick<RouteAccess, 'isPublic' | 'notRateLimited'>): BudgetName | null {
  if (access.isPublic) return access.notRateLimited ? null : 'public';
  if (!request.principal) return null;
  return WRITE_METHODS.has(request.method) ? 'writes' : 'reads';
}

/**
 * Marks a public route whose budget limitBeforeBody takes before its body is read (inbound
 * webhooks). Public routes only: RouteConfig is one metadata value, and @Roles() sets its own.
 */
export const PUBLIC_BUDGET_ROUTE = 'meanderPublicBudget';
export const CountedBeforeBody = () => RouteConfig({ [PUBLIC_BUDGET_ROUTE]: true });

/** What a route with a token is to budgetOf (every one of them is flagged for the hook). */
const TOKEN_ROUTE = { isPublic: false, notRateLimited: false } as const;

/**
 * Takes each request's budget in Fastify's first hooks, after authenticateBeforeBody: a client
 * past its budget is refused before its body (up to 10 MiB for exports, 1 MiB for a webhook) is
 * read and parsed, where the guard would have read and parsed it first. The routes counted here
 * are those with a token (every one is flagged) and the flagged public ones.
 */
export function limitBeforeBody(fastify: FastifyInstance, limits: RateLimits): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const counted = request as unknown as HttpRequest & AuthenticatedRequest & RateLimitedRequest;
    const config = request.routeOptions.config as unknown as Record<string, unknown> | undefined;
    const name = isAuthenticatedRoute(request) ? budgetOf(counted, TOKEN_ROUTE) : config?.[PUBLIC_BUDGET_ROUTE] === true ? 'public' : null;
    if (!name) return done();
    try {
      limits.take(name, counted, reply);
    } catch (error) {
      return done(error as Error);
    }
    done();
  });
}

/** Per token, by the digest the AuthGuard computed: it sets the principal and the digest together. */
function tokenKey(request: AuthenticatedRequest): string {
  if (request.tokenFingerprint === undefined) throw new Error('RateLimitGuard: a principal without its token fingerprint (AuthGuard sets both)');
  return request.tokenFingerprint;
}
