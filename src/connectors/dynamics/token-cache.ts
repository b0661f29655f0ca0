// Access tokens of the client-credentials grant, one per integration config, reused until shortly
// before they expire. Pure: no Nest imports.
import { createHmac, randomBytes } from 'node:crypto';

/** What a token was issued for: a change of any of these makes the cached token unusable. */
export interface TokenIdentity {
  configId: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  authority: string;
  scope: string;
}

export interface IssuedToken {
  accessToken: string;
  /** Seconds, as the token endpoint's `expires_in` says. */
  expiresInSeconds: number;
}

export interface TokenCacheOptions {
  /** Configs remembered at most; the least recently used is forgotten first. Default 1,000. */
  maxEntries?: number;
  /** A token is not used in its last seconds (clock skew, a slow request). Default 60. */
  refreshMarginSeconds?: number;
  now?: () => number;
}

// Lookups of every TokenCache of the process (the metrics show them): a hit needed no token request.
const lookups = { hits: 0, misses: 0 };

/** Hits and misses of the process's token caches since it started. */
export function tokenCacheLookups(): { hits: number; misses: number } {
  return { ...lookups };
}

interface Entry {
  digest: string;
  accessToken: string;
  usableUntil: number;
}

/**
 * Tokens keyed by config id plus a keyed digest of what the token was issued for, so a rotated
 * secret or a moved tenant never reuses the old token, and no secret is kept as a key. A
 * concurrent second caller for the same config shares the first one's token request.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, { digest: string; promise: Promise<string> }>();
  // A per-process key: a memory dump's digests cannot be matched against guessed secrets offline.
  private readonly digestKey = randomBytes(32);
  private readonly maxEntries: number;
  private readonly marginMs: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.marginMs = (options.refreshMarginSeconds ?? 60) * 1000;
    this.now = options.now ?? Date.now;
  }

  /** The cached token for this identity, or a new one from `fetch` (cached on success). */
  async get(identity: TokenIdentity, fetch: () => Promise<IssuedToken>): Promise<string> {
    const digest = this.digest(identity);
    const cached = this.peek(identity.configId, digest);
    const inFlight = this.pending.get(identity.configId);
    const shared = inFlight?.digest === digest ? inFlight.promise : undefined;
    // A caller sharing another's token request made none itself: a hit.
    lookups[cached || shared ? 'hits' : 'misses'] += 1;
    if (cached) return cached;
    if (shared) return shared;
    return this.request(identity.configId, digest, fetch);
  }

  /**
   * A new token from `fetch` whatever is cached (a connection test: the credentials themselves
   * are checked, not a token issued before they were revoked). It replaces the cached one; until
   * it arrives, callers of get() share it, and when it fails nothing stays cached.
   */
  async refresh(identity: TokenIdentity, fetch: () => Promise<IssuedToken>): Promise<string> {
    this.entries.delete(identity.configId);
    return this.request(identity.configId, this.digest(identity), fetch);
  }

  /** Forgets the config's token (the system refused it). */
  drop(configId: string): void {
    this.entries.delete(configId);
  }

  get size(): number {
    return this.entries.size;
  }

  private request(configId: string, digest: string, fetch: () => Promise<IssuedToken>): Promise<string> {
    const promise = fetch()
      .then((issued) => {
        // A request overtaken by a later one (a refresh, changed credentials) leaves the later one's token in place.
        if (this.pending.get(configId)?.promise === promise) this.store(configId, digest, issued);
        return issued.accessToken;
      })
      .finally(() => {
        if (this.pending.get(configId)?.promise === promise) this.pending.delete(configId);
      });
    this.pending.set(configId, { digest, promise });
    return promise;
  }

  private peek(configId: string, digest: string): string | undefined {
    const entry = this.entries.get(configId);
    if (!entry) return undefined;
    if (entry.digest !== digest || entry.usableUntil <= this.now()) {
      this.entries.delete(configId);
      return undefined;
    }
    // Most recently used last: eviction takes the first.
    this.entries.delete(configId);
    this.entries.set(configId, entry);
    return entry.accessToken;
  }

  private store(configId: string, digest: string, issued: IssuedToken): void {
    const lifetimeMs = Math.max(0, issued.expiresInSeconds) * 1000;
    // A short-lived token is kept for half its life rather than not at all.
    const usableUntil = this.now() + lifetimeMs - Math.min(this.marginMs, lifetimeMs / 2);
    this.entries.delete(configId);
    this.entries.set(configId, { digest, accessToken: issued.accessToken, usableUntil });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  private digest(identity: TokenIdentity): string {
    return createHmac('sha256', this.digestKey)
      .update(JSON.stringify([identity.tenant, identity.clientId, identity.clientSecret, identity.authority, identity.scope]))
      .digest('base64url');
  }
}
