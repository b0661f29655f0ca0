import { hash, webcrypto } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { UUID_PATTERN } from '../common/uuid';
import { DEFAULT_TOKEN_CACHE_SIZE, DEFAULT_TOKEN_MAX_LIFETIME_SECONDS } from '../config/app-config';
import { ROLES, type Principal, type Role } from './principal';

export interface TokenVerifierOptions {
  /** HS256 secret; used unless `jwksUrl` is set. */
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** The longest lifetime accepted, `exp` − `iat` (or `exp` − now without `iat`), in seconds (default: 30 days). */
  maxLifetimeSeconds?: number;
  /** How many verified tokens are remembered (0: none), and for how long at most (defaults: 10,000, 5 minutes). */
  verdicts?: { maxEntries?: number; maxAgeMs?: number };
}

/** The token was refused; `reason` is safe to show (it never echoes the token). */
export class TokenRejected extends Error {
  override name = 'TokenRejected';
}

/** The JWKS could not be fetched or read: the token was not judged, so not refused (503, not 401). */
export class KeySetUnavailable extends Error {
  override name = 'KeySetUnavailable';
}

const CLOCK_SKEW_SECONDS = 60;
/** Verified tokens remembered unless configured otherwise (AUTH_TOKEN_CACHE_SIZE). */
export { DEFAULT_TOKEN_CACHE_SIZE };
const DEFAULT_VERDICTS = { maxEntries: DEFAULT_TOKEN_CACHE_SIZE, maxAgeMs: 5 * 60_000 };

/** The token itself is never kept or used as a key: only its digest is (the verdict cache, the rate limits). */
export function tokenFingerprint(token: string): string {
  return hash('sha256', token, 'base64url');
}

interface Verdict {
  principal: Principal;
  validUntilMs: number;
}

/**
 * Verifies bearer JWTs: the algorithm is pinned (HS256, or RS256/ES256 with a JWKS), `exp` is
 * required, `nbf`/`iat` get at most 60 s of skew (a token issued later than that is refused), `iss`/`aud` are checked when configured,
 * and a token may live at most `maxLifetimeSeconds` (`exp` − `iat`): there is no revocation, so its `exp` is all that ends a leaked one.
 *
 * A client sends the same token with every request until it expires, so a verified token's
 * verdict is remembered (as API gateways do: Envoy's jwt_authn, Kong): until the token expires
 * (the same 60 s of skew as the check itself) and at most 5 minutes, so a key withdrawn from the
 * JWKS stops being honoured about as soon as jose's own key set cache lets it. Refused tokens
 * are never remembered; the cache is bounded (the oldest verdict goes first).
 */
export class TokenVerifier {
  private readonly key: Promise<webcrypto.CryptoKey> | JWTVerifyGetKey;
  private readonly algorithms: string[];
  private readonly verdicts = new Map<string, Verdict>();
  /** Tokens admitted from a remembered verdict (hits) and verified with the key (misses), since start: for the metrics. */
  readonly verdictLookups = { hits: 0, misses: 0 };
  private readonly verdictLimits: typeof DEFAULT_VERDICTS;
  private readonly maxLifetimeSeconds: number;

  constructor(private readonly options: TokenVerifierOptions) {
    this.maxLifetimeSeconds = options.maxLifetimeSeconds ?? DEFAULT_TOKEN_MAX_LIFETIME_SECONDS;
    if (!Number.isSafeInteger(this.maxLifetimeSeconds) || this.maxLifetimeSeconds < 1) throw new Error('TokenVerifier: maxLifetimeSeconds must be a whole number ≥ 1');
    this.verdictLimits = {
      maxEntries: options.verdicts?.maxEntries ?? DEFAULT_VERDICTS.maxEntries,
      maxAgeMs: options.verdicts?.maxAgeMs ?? DEFAULT_VERDICTS.maxAgeMs,
    };
    // A limit that is not a whole number would leave the cache unbounded (every comparison false).
    for (const [name, limit] of Object.entries(this.verdictLimits)) {
      if (!Number.isSafeInteger(limit) || limit < 0) throw new Error(`TokenVerifier: verdicts.${name} must be a whole number ≥ 0`);
    }
    if (options.jwksUrl) {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl));
      this.algorithms = ['RS256', 'ES256'];
    } else {
      if (!options.secret) throw new Error('TokenVerifier needs a secret or a JWKS URL');
      // Imported once: given the raw bytes, jose imports a WebCrypto key on every verification.
      this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      this.key.catch(() => undefined); // surfaced by verify(), not as an unhandled rejection
      this.algorithms = ['HS256'];
    }
  }

  /** The principal of a valid token; `fingerprint` if the caller has it already (tokenFingerprint). */
  async verify(token: string, fingerprint = tokenFingerprint(token)): Promise<Principal> {
    return this.principalOf(token, fingerprint);
  }

  /**
   * The same, without a promise when the token's verdict is remembered (for a caller on every
   * request's path, such as the AuthGuard).
   */
  principalOf(token: string, fingerprint = tokenFingerprint(token)): Principal | Promise<Principal> {
    return this.knownPrincipal(fingerprint) ?? this.verifyAndRemember(token, fingerprint);
  }

  private async verifyAndRemember(token: string, fingerprint: string): Promise<Principal> {
    this.verdictLookups.misses += 1;
    const now = Date.now();
    const { principal, expiresAt } = await this.verifyNow(token);
    this.remember(fingerprint, principal, Math.min((expiresAt + CLOCK_SKEW_SECONDS) * 1000, now + this.verdictLimits.maxAgeMs));
    return principal;
  }

  /** The principal of a token verified before and still valid; else undefined. */
  knownPrincipal(fingerprint: string): Principal | undefined {
    const known = this.verdicts.get(fingerprint);
    if (!known) return undefined;
    if (Date.now() < known.validUntilMs) {
      this.verdictLookups.hits += 1;
      return known.principal;
    }
    this.verdicts.delete(fingerprint);
    return undefined;
  }

  /** How many verdicts are remembered. */
  get rememberedVerdicts(): number {
    return this.verdicts.size;
  }

  private remember(fingerprint: string, principal: Principal, validUntilMs: number): void {
    if (this.verdictLimits.maxEntries <= 0) return;
    this.verdicts.set(fingerprint, { principal, validUntilMs });
    if (this.verdicts.size > this.verdictLimits.maxEntries) this.verdicts.delete(this.verdicts.keys().next().value as string);
  }

  private async verifyNow(token: string): Promise<{ principal: Principal; expiresAt: number }> {
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_SKEW_SECONDS,
        issuer: this.options.issuer,
        audience: this.options.audience,
      };
      const result = typeof this.key === 'function' ? await jwtVerify(token, this.key, options) : await jwtVerify(token, await this.key, options);
      payload = result.payload;
    } catch (error) {
      if (typeof this.key === 'function' && isKeySetFailure(error)) throw new KeySetUnavailable('the signing keys (AUTH_JWKS_URL) could not be fetched');
      throw new TokenRejected(describeJoseError(error));
    }
    // jose checks `iat` against the clock only with a maxTokenAge: a token issued a year ahead
    // would otherwise pass, and a clock that far off (or a forged issuer) is no one to trust.
    const nowSeconds = Date.now() / 1000;
    if (typeof payload.iat === 'number' && payload.iat > nowSeconds + CLOCK_SKEW_SECONDS) {
      throw new TokenRejected('the token\'s "iat" claim is in the future');
    }
    // `exp` is a required claim: jose has checked it is a number in the future. Nothing revokes a
    // token, so its `exp` is all that ends a leaked one: one that lives a century is a password.
    // Measured from `iat` (the issuer's own clock); without one, from now (and the skew).
    const expiresAt = payload.exp as number;
    const lifetime = typeof payload.iat === 'number' ? expiresAt - payload.iat : expiresAt - nowSeconds - CLOCK_SKEW_SECONDS;
    if (lifetime > this.maxLifetimeSeconds) {
      throw new TokenRejected(`the token lives longer than the ${this.maxLifetimeSeconds} s accepted ("exp" − "iat")`);
    }
    return { principal: Object.freeze(principalFromClaims(payload)), expiresAt };
  }
}

/** A network failure, a timeout, a non-200 answer or an unreadable key set: not the token's fault. */
function isKeySetFailure(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  // fetch itself fails with a TypeError when the host cannot be reached (by name: it may come from another realm).
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  if (name === 'TypeError' && typeof message === 'string' && /fetch failed/i.test(message)) return true;
  return error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/i.test(error.message);
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'the token is signed with a key that is not published';
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not acceptable`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that is not accepted';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  return 'the token is malformed or not verifiable';
}

export function principalFromClaims(payload: JWTPayload): Principal {
  const role = payload['role'];
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    throw new TokenRejected('the token has no known "role" claim');
  }
  if (typeof payload.sub !== 'string' || !UUID_PATTERN.test(payload.sub)) {
    throw new TokenRejected('the token "sub" claim must be a UUID');
  }
  const orgId = payload['org_id'];
  if (role === 'org_admin' && (typeof orgId !== 'string' || !UUID_PATTERN.test(orgId))) {
    throw new TokenRejected('an org_admin token needs an "org_id" claim that is a UUID');
  }
  return { sub: payload.sub.toLowerCase(), role: role as Role, orgId: role === 'org_admin' ? (orgId as string).toLowerCase() : null };
}
