import type { ThrottlerStorage } from '@nestjs/throttler';
import { TokenBucketLimiter } from '../common/rate-limiter';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** Most keys (tokens, client IPs) remembered per budget; the least recently seen are dropped first. */
export const MAX_RATE_LIMIT_KEYS = 100_000;

/**
 * The throttler's counters as token buckets: `limit` at once, refilled continuously over `ttl`.
 * O(1) per request and bounded in memory, where the default storage keeps (and filters) one
 * timestamp per request of the window: at 3000 reads a minute, 3000 entries per token.
 */
export class TokenBucketThrottlerStorage implements ThrottlerStorage {
  private readonly budgets = new Map<string, { limiter: TokenBucketLimiter; perSecond: number }>();

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const id = `${throttlerName}:${limit}:${ttl}`;
    let budget = this.budgets.get(id);
    if (!budget) {
      const perSecond = limit / (ttl / 1000);
      budget = { limiter: new TokenBucketLimiter({ capacity: limit, refillPerSecond: perSecond, maxKeys: MAX_RATE_LIMIT_KEYS }), perSecond };
      this.budgets.set(id, budget);
    }
    const now = Date.now();
    const wait = budget.limiter.take(key, now);
    const left = Math.floor(budget.limiter.tokens(key, now));
    return { totalHits: limit - left, timeToExpire: budget.limiter.secondsUntilFull(key, now), isBlocked: wait > 0, timeToBlockExpire: wait };
  }
}
