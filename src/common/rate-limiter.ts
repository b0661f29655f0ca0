// A token bucket per key (an integration, a token, a client IP), in memory, bounded. Pure: no Nest imports.

export interface RateLimiterOptions {
  /** Requests allowed in a burst. */
  capacity: number;
  /** Tokens regained per second. */
  refillPerSecond: number;
  /** Most keys kept; the least recently used go first. */
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateLimiterOptions) {}

  /** Requests allowed in a burst: the limit a 429 names (RateLimit-Limit). */
  get capacity(): number {
    return this.options.capacity;
  }

  /** Takes a token: 0 when allowed, else the seconds until one is available. */
  take(key: string, nowMs = Date.now()): number {
    const { capacity, refillPerSecond, maxKeys } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: capacity, updatedMs: nowMs };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * refillPerSecond);
    bucket.updatedMs = nowMs;
    // Re-insert: a Map iterates in insertion order, so the first key is the least recently used.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / refillPerSecond);
  }

  /** Returns a token `take` gave for what turned out not to count (never past the capacity). */
  giveBack(key: string, nowMs = Date.now()): void {
    const bucket = this.buckets.get(key);
    if (!bucket) return;
    bucket.tokens = Math.min(this.options.capacity, this.tokens(key, nowMs) + 1);
    bucket.updatedMs = nowMs;
  }

  /** Tokens left for `key` (the full capacity for a key never seen or evicted). */
  tokens(key: string, nowMs = Date.now()): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return this.options.capacity;
    return Math.min(this.options.capacity, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * this.options.refillPerSecond);
  }

  /** Seconds until `key`'s bucket is full again. */
  secondsUntilFull(key: string, nowMs = Date.now()): number {
    return Math.ceil((this.options.capacity - this.tokens(key, nowMs)) / this.options.refillPerSecond);
  }

  get size(): number {
    return this.buckets.size;
  }
}
