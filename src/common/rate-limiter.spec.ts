import { TokenBucketLimiter } from './rate-limiter';

describe('token bucket', () => {
  it('allows a burst, then the refill rate, per key', () => {
    const limiter = new TokenBucketLimiter({ capacity: 3, refillPerSecond: 1, maxKeys: 10 });
    const t0 = 1_000_000;
    expect([limiter.take('a', t0), limiter.take('a', t0), limiter.take('a', t0)]).toEqual([0, 0, 0]);
    expect(limiter.take('a', t0)).toBe(1);
    expect(limiter.take('b', t0)).toBe(0);
    expect(limiter.take('a', t0 + 1000)).toBe(0);
    expect(limiter.take('a', t0 + 1000)).toBeGreaterThan(0);
  });

  it('gives back a token taken for what did not count, never past the capacity', () => {
    const limiter = new TokenBucketLimiter({ capacity: 2, refillPerSecond: 1, maxKeys: 10 });
    const t0 = 1_000_000;
    expect([limiter.take('a', t0), limiter.take('a', t0)]).toEqual([0, 0]);
    limiter.giveBack('a', t0);
    expect(limiter.take('a', t0)).toBe(0);
    expect(limiter.take('a', t0)).toBe(1);
    // Refilled meanwhile: the token given back does not take the bucket past its capacity.
    limiter.giveBack('a', t0 + 5_000);
    expect(limiter.tokens('a', t0 + 5_000)).toBe(2);
    // A key never charged has nothing to give back.
    limiter.giveBack('b', t0);
    expect(limiter.size).toBe(1);
  });

  it('keeps at most maxKeys buckets', () => {
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) limiter.take(`key-${i}`);
    expect(limiter.size).toBe(100);
  });
});

describe('TokenBucketLimiter, as the throttler storage reads it', () => {
  it('reports the tokens left and the seconds until the bucket is full again', () => {
    const limiter = new TokenBucketLimiter({ capacity: 60, refillPerSecond: 1, maxKeys: 10 });
    expect(limiter.tokens('a', 0)).toBe(60);
    for (let i = 0; i < 10; i++) limiter.take('a', 0);
    expect(limiter.tokens('a', 0)).toBe(50);
    expect(limiter.secondsUntilFull('a', 0)).toBe(10);
    expect(limiter.tokens('a', 4_000)).toBe(54);
    expect(limiter.secondsUntilFull('a', 4_000)).toBe(6);
    expect(limiter.tokens('a', 3_600_000)).toBe(60);
  });
});
