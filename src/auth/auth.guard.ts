import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RuleViolation } from '../common/rule-violation';
import type { HttpRequest } from '../http/http-types';
import type { AuthenticatedRequest } from './auth.decorators';
import type { Principal, Role } from './principal';
import { routeAccess } from './route-access';
import { KeySetUnavailable, TokenRejected, TokenVerifier, tokenFingerprint } from './token-verifier';

// Tokens belong in the Authorization header only: in a URL they end up in logs and histories.
const TOKEN_QUERY_PARAMETERS = ['access_token', 'token', 'jwt', 'id_token', 'bearer', 'authorization'];

/** Global guard, deny by default: a route is public, or needs a valid token and a listed role. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
  ) {}

  // Synchronous when the token's verdict is remembered: Nest awaits only a guard that returns a promise.
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const { isPublic, roles } = routeAccess(this.reflector, context);
    if (isPublic) return true;

    const request = context.switchToHttp().getRequest<HttpRequest & AuthenticatedRequest>();
    const queryKeys = Object.keys(request.query ?? {}).map((k) => k.toLowerCase());
    if (queryKeys.some((k) => TOKEN_QUERY_PARAMETERS.includes(k))) {
      throw RuleViolation.unauthorized('Tokens are accepted only in the Authorization header, never in the query string.');
    }
    const header = request.headers.authorization;
    // The scheme name is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are Bearer.
    const match = typeof header === 'string' ? /^Bearer +([A-Za-z0-9_\-.]+)$/i.exec(header.trim()) : null;
    if (!match) throw RuleViolation.unauthorized('A bearer token is required: Authorization: Bearer <JWT>.');
    const fingerprint = tokenFingerprint(match[1]);
    const principal = this.verifier.principalOf(match[1], fingerprint);
    if (!(principal instanceof Promise)) return admit(request, principal, fingerprint, roles);
    return principal.then(
      (principal) => admit(request, principal, fingerprint, roles),
      (error: unknown) => {
        if (error instanceof TokenRejected) throw RuleViolation.unauthorized(`The bearer token was refused: ${error.message}.`);
        if (error instanceof KeySetUnavailable) throw new RuleViolation('service_unavailable', 503, `The token could not be checked: ${error.message}; retry shortly.`);
        throw error;
      },
    );
  }
}

/** The verified principal on the request, if its role may use the route. */
function admit(request: AuthenticatedRequest, principal: Principal, fingerprint: string, roles: Role[] | undefined): true {
  request.principal = principal;
  request.tokenFingerprint = fingerprint;
  // A route that forgot to declare its roles is closed, not open.
  if (!roles || roles.length === 0) throw RuleViolation.forbidden('This route is not open to any role.');
  if (!roles.includes(principal.role)) throw RuleViolation.forbidden(`The role ${principal.role} may not do this.`);
  return true;
}
