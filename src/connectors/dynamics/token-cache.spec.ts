import { TokenCache, type TokenIdentity } from './token-cache';

const identity = (over: Partial<TokenIdentity> = {}): TokenIdentity => ({
  configId: 'config-1',
  tenant: 'tenant-a',
  clientId: 'client-a',
  clientSecret: 'secret-a-0123456789',
  authority: 'https://login.example',
  scope: 'https://org.example/.default',
  ...over,
});

describe('the token cache', () => {
  let clock: number;
  let issued: number;
  const issue =
    (expiresInSeconds = 3599) =>
    async () => ({ accessToken: `token-${++issued}`, expiresInSeconds });

  beforeEach(() => {
    clock = 1_000_000;
    issued = 0;
  });

  it('reuses a token until 60 s before it expires, then asks again', async () => {
    const cache = new TokenCache({ now: () => clock });
    expect(await cache.get(identity(), issue())).toBe('token-1');
    clock += (3599 - 60) * 1000 - 1;
    expect(await cache.get(identity(), issue())).toBe('token-1');
    clock += 1;
    expect(await cache.get(identity(), issue())).toBe('token-2');
  });

  it('keeps a short-lived token for half its life', async () => {
    const cache = new TokenCache({ now: () => clock });
    await cache.get(identity(), issue(10));
    clock += 4_999;
    expect(await cache.get(identity(), issue(10))).toBe('token-1');
    clock += 1;
    expect(await cache.get(identity(), issue(10))).toBe('token-2');
  });

  it.each([
    ['tenant', { tenant: 'tenant-b' }] as const,
    ['client_id', { clientId: 'client-b' }] as const,
    ['client_secret', { clientSecret: 'secret-b-0123456789' }] as const,
    ['authority', { authority: 'https://login.other' }] as const,
    ['scope', { scope: 'https://other.example/.default' }] as const,
  ])('does not reuse the token once the %s changes', async (_what, change) => {
    const cache = new TokenCache({ now: () => clock });
    await cache.get(identity(), issue());
    expect(await cache.get(identity(change), issue())).toBe('token-2');
    // The old credentials' token is gone too: the config has one set of credentials.
    expect(await cache.get(identity(), issue())).toBe('token-3');
  });

  it('keeps configs apart and forgets a dropped one', async () => {
    const cache = new TokenCache({ now: () => clock });
    await cache.get(identity(), issue());
    expect(await cache.get(identity({ configId: 'config-2' }), issue())).toBe('token-2');
    cache.drop('config-1');
    expect(await cache.get(identity(), issue())).toBe('token-3');
    expect(await cache.get(identity({ configId: 'config-2' }), issue())).toBe('token-2');
  });

  it('is bounded: the least recently used config is forgotten first', async () => {
    const cache = new TokenCache({ now: () => clock, maxEntries: 2 });
    await cache.get(identity({ configId: 'a' }), issue());
    await cache.get(identity({ configId: 'b' }), issue());
    await cache.get(identity({ configId: 'a' }), issue()); // a used again: b is now the oldest
    await cache.get(identity({ configId: 'c' }), issue());
    expect(cache.size).toBe(2);
    expect(await cache.get(identity({ configId: 'a' }), issue())).toBe('token-1');
    expect(await cache.get(identity({ configId: 'b' }), issue())).toBe('token-4');
  });

  it('shares one token request between concurrent callers, and caches nothing when it fails', async () => {
    const cache = new TokenCache({ now: () => clock });
    let calls = 0;
    const slow = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { accessToken: 'shared', expiresInSeconds: 3599 };
    };
    expect(await Promise.all([cache.get(identity(), slow), cache.get(identity(), slow)])).toEqual(['shared', 'shared']);
    expect(calls).toBe(1);
    const other = new TokenCache({ now: () => clock });
    await expect(other.get(identity(), () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(other.size).toBe(0);
    expect(await other.get(identity(), issue())).toBe('token-1');
  });

  it('refresh asks for a new token whatever is cached and caches it; a failed one leaves nothing cached', async () => {
    const cache = new TokenCache({ now: () => clock });
    expect(await cache.get(identity(), issue())).toBe('token-1');
    expect(await cache.refresh(identity(), issue())).toBe('token-2');
    expect(await cache.get(identity(), issue())).toBe('token-2');

    await expect(cache.refresh(identity(), () => Promise.reject(new Error('invalid_client')))).rejects.toThrow('invalid_client');
    expect(cache.size).toBe(0);
    expect(await cache.get(identity(), issue())).toBe('token-3');
  });

  it('a get() while a refresh is under way shares it; an older request that answers later does not replace its token', async () => {
    const cache = new TokenCache({ now: () => clock });
    let release: (token: { accessToken: string; expiresInSeconds: number }) => void = () => undefined;
    const slow = cache.get(identity(), () => new Promise((resolve) => (release = resolve)));
    const refreshed = cache.refresh(identity(), issue());
    const sharing = cache.get(identity(), issue());
    expect(await refreshed).toBe('token-1');
    expect(await sharing).toBe('token-1');
    release({ accessToken: 'older', expiresInSeconds: 3599 });
    expect(await slow).toBe('older');
    expect(await cache.get(identity(), issue())).toBe('token-1');
  });

  it('keeps no secret, in clear, as a key or anywhere in its entries', async () => {
    const cache = new TokenCache({ now: () => clock });
    await cache.get(identity(), issue());
    const entries = (cache as unknown as { entries: Map<string, unknown> }).entries;
    expect([...entries.keys()]).toEqual(['config-1']);
    expect(JSON.stringify([...entries])).not.toContain('secret-a-0123456789');
  });
});
