import { createHash } from 'node:crypto';
import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerModuleOptions, type ThrottlerRequest } from '@nestjs/throttler';
import { IS_PUBLIC, type AuthenticatedRequest } from '../auth/auth.decorators';
import { RuleViolation } from '../common/rule-violation';
import type { AppConfig } from '../config/app-config';
import type { HttpReply, HttpRequest } from './http-types';
import { TokenBucketThrottlerStorage } from './rate-limit.storage';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MINUTE_MS = 60_000;

const BUDGET_NAMES = ['reads', 'writes', 'public'] as const;

/** The three budgets: reads and writes per bearer token, unauthenticated requests per client IP. */
export function rateLimitOptions(config: AppConfig): ThrottlerModuleOptions {
  return {
    storage: new TokenBucketThrottlerStorage(),
    throttlers: [
      // Token buckets (see the storage): refused requests take nothing from the budget.
      { name: 'reads', ttl: MINUTE_MS, limit: config.rateLimitReadsPerMinute, blockDuration: 0 },
      { name: 'writes', ttl: MINUTE_MS, limit: config.rateLimitWritesPerMinute, blockDuration: 0 },
      { name: 'public', ttl: MINUTE_MS, limit: config.rateLimitPublicPerMinute, blockDuration: 0 },
    ],
  };
}

/**
 * Runs after AuthGuard (it needs the principal). Each request is counted against exactly one
 * budget: a write or a read against the token that made it, whatever the route, so one token
 * cannot spread a flood over many routes; a public route (inbound webhooks) against the client
 * IP. The budget's state goes back in RateLimit-Limit / -Remaining / -Reset headers.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override headerPrefix = 'RateLimit';

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const { context } = props;
    const request = context.switchToHttp().getRequest<HttpRequest & AuthenticatedRequest>();
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]) === true;
    if (budgetOf(request, isPublic) !== props.throttler.name) return true;
    return super.handleRequest(isPublic ? props : { ...props, getTracker: () => tokenFingerprint(request) });
  }

  /** One set of headers per response, without the budget's name (`RateLimit-Limit`, not `RateLimit-Limit-writes`). */
  protected override setResponseHeader(res: HttpReply, name: string, value: string | number): void {
    const suffix = BUDGET_NAMES.find((budget) => name.endsWith(`-${budget}`));
    res.header(suffix ? name.slice(0, -(suffix.length + 1)) : name, String(value));
  }

  /** One budget per tracker across every route (the default key is per route and hashed again). */
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const seconds = Math.max(1, Math.ceil(detail.timeToBlockExpire));
    const res = context.switchToHttp().getResponse<HttpReply>();
    res.header('Retry-After', String(seconds));
    res.header('RateLimit-Limit', String(detail.limit));
    res.header('RateLimit-Remaining', '0');
    res.header('RateLimit-Reset', String(seconds));
    throw new RuleViolation('rate_limited', 429, `Too many requests: at most ${detail.limit} per minute; retry in ${seconds} s.`);
  }
}

function budgetOf(request: HttpRequest & AuthenticatedRequest, isPublic: boolean): (typeof BUDGET_NAMES)[number] | null {
  if (isPublic) return 'public';
  if (!request.principal) return null;
  return WRITE_METHODS.has(request.method) ? 'writes' : 'reads';
}

/** The token itself never becomes a storage key: only its digest does. */
function tokenFingerprint(request: HttpRequest): string {
  return createHash('sha256').update(request.headers.authorization ?? '').digest('base64url');
}
