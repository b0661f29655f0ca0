import { MAX_RATE_LIMIT_KEYS, TokenBucketThrottlerStorage } from './rate-limit.storage';

describe('TokenBucketThrottlerStorage', () => {
  afterEach(() => jest.useRealTimers());

  it('allows the limit at once, then blocks with the seconds until a request is free, and refills over the window', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const storage = new TokenBucketThrottlerStorage();
    const hit = () => storage.increment('token-a', 60_000, 3, 0, 'writes');
    expect(await hit()).toEqual({ totalHits: 1, timeToExpire: 20, isBlocked: false, timeToBlockExpire: 0 });
    await hit();
    expect(await hit()).toMatchObject({ totalHits: 3, isBlocked: false });
    expect(await hit()).toEqual({ totalHits: 3, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 20 });
    jest.advanceTimersByTime(20_000);
    expect(await hit()).toMatchObject({ isBlocked: false });
    // Budgets and keys are separate.
    expect(await storage.increment('token-b', 60_000, 3, 0, 'writes')).toMatchObject({ totalHits: 1, isBlocked: false });
    expect(await storage.increment('token-a', 60_000, 3, 0, 'reads')).toMatchObject({ totalHits: 1, isBlocked: false });
  });

  it('keeps at most MAX_RATE_LIMIT_KEYS keys per budget, whatever the number of clients', async () => {
    const storage = new TokenBucketThrottlerStorage();
    for (let i = 0; i < MAX_RATE_LIMIT_KEYS + 50; i++) await storage.increment(`ip-${i}`, 60_000, 10, 0, 'public');
    const budgets = (storage as unknown as { budgets: Map<string, { limiter: { size: number } }> }).budgets;
    expect([...budgets.values()][0].limiter.size).toBe(MAX_RATE_LIMIT_KEYS);
  });
});
