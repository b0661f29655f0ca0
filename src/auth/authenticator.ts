import { Injectable } from '@nestjs/common';
import { TokenBucketLimiter } from '../common/rate-limiter';
import { RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import type { HttpRequest } from '../http/http-types';
import { clientAddress, MAX_RATE_LIMIT_KEYS } from '../http/rate-limit.guard';
import type { AuthenticatedRequest } from './auth.decorators';
import type { Principal } from './principal';
import { KeySetUnavailable, TokenRejected, TokenVerifier, tokenFingerprint } from './token-verifier';

// Tokens belong in the Authorization header only: in a URL they end up in logs and histories.
const TOKEN_QUERY_PARAMETERS = ['access_token', 'token', 'jwt', 'id_token', 'bearer', 'authorization'];
// The scheme name is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are Bearer.
const BEARER = /^Bearer +([A-Za-z0-9_\-.]+)$/i;

/**
 * Who made a request, from its bearer token: sets `principal` and `tokenFingerprint` on it.
 * Runs twice at most per request and does the work once: from the HTTP server's first hook, so an
 * anonymous request is refused before its body is read, and from AuthGuard for hosts (an Express
 * application importing the module) where that hook does not exist.
 *
 * Refusals are counted per client address: past RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE an address
 * is answered 429 without its token being looked at (a scanner costs one bucket lookup).
 */
@Injectable()
export class Authenticator {
  private readonly refusals: TokenBucketLimiter;
  private readonly refusalsPerMinute: number;

  constructor(
    private readonly verifier: TokenVerifier,
    config: AppConfig,
  ) {
    this.refusalsPerMinute = config.rateLimitUnauthenticatedPerMinute;
    this.refusals = new TokenBucketLimiter({ capacity: this.refusalsPerMinute, refillPerSecond: this.refusalsPerMinute / 60, maxKeys: MAX_RATE_LIMIT_KEYS });
  }

  // Synchronous when the token's verdict is remembered: Nest awaits only a guard that returns a promise.
  authenticate(request: HttpRequest & AuthenticatedRequest): void | Promise<void> {
    if (request.principal !== undefined) return;
    const address = clientAddress(request);
    const token = bearerToken(request);
    if (token instanceof RuleViolation) throw this.refuse(address, token);
    const fingerprint = tokenFingerprint(token);
    // A token verified before is admitted whatever its address's refusals (a NAT shared with a scanner).
    const known = this.verifier.knownPrincipal(fingerprint);
    if (known) return admit(request, known, fingerprint);
    if (this.refusals.tokens(address) < 1) throw this.tooMany(address);
    return this.verifier.verify(token, fingerprint).then(
      (principal) => admit(request, principal, fingerprint),
      (error: unknown) => {
        if (error instanceof TokenRejected) throw this.refuse(address, RuleViolation.unauthorized(`The bearer token was refused: ${error.message}.`));
        if (error instanceof KeySetUnavailable) throw new RuleViolation('service_unavailable', `The token could not be checked: ${error.message}; retry shortly.`);
        throw error;
      },
    );
  }

  /** A refused authentication draws on the address's budget; once it is spent, the answer is 429. */
  private refuse(address: string, refusal: RuleViolation): RuleViolation {
    if (this.refusals.tokens(address) < 1) return this.tooMany(address);
    this.refusals.take(address);
    return refusal;
  }

  private tooMany(address: string): RuleViolation {
    const seconds = Math.max(1, this.refusals.take(address));
    return RuleViolation.rateLimited(
      `Too many refused authentications from this address: at most ${this.refusalsPerMinute} per minute; retry in ${seconds} s.`,
      this.refusals.capacity,
      seconds,
    );
  }
}

/** The request's bearer token, or why it has none. */
function bearerToken(request: HttpRequest): string | RuleViolation {
  const queryKeys = Object.keys(request.query ?? {}).map((k) => k.toLowerCase());
  if (queryKeys.some((k) => TOKEN_QUERY_PARAMETERS.includes(k))) {
    return RuleViolation.unauthorized('Tokens are accepted only in the Authorization header, never in the query string.');
  }
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? BEARER.exec(header.trim()) : null;
  return match ? match[1] : RuleViolation.unauthorized('A bearer token is required: Authorization: Bearer <JWT>.');
}

function admit(request: AuthenticatedRequest, principal: Principal, fingerprint: string): void {
  request.principal = principal;
  request.tokenFingerprint = fingerprint;
}
