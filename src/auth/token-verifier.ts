import { webcrypto } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ROLES, UUID_PATTERN, type Principal, type Role } from './principal';

export interface TokenVerifierOptions {
  /** HS256 secret; used unless `jwksUrl` is set. */
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
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

/**
 * Verifies bearer JWTs: the algorithm is pinned (HS256, or RS256/ES256 with a JWKS), `exp` is
 * required, `nbf`/`iat` get at most 60 s of skew, `iss`/`aud` are checked when configured.
 */
export class TokenVerifier {
  private readonly key: Promise<webcrypto.CryptoKey> | JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(private readonly options: TokenVerifierOptions) {
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

  async verify(token: string): Promise<Principal> {
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
    return principalFromClaims(payload);
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
