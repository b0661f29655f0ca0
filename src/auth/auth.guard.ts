import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RuleViolation } from '../common/rule-violation';
import type { HttpRequest } from '../http/http-types';
import type { AuthenticatedRequest } from './auth.decorators';
import { Authenticator } from './authenticator';
import type { Role } from './principal';
import { routeAccess } from './route-access';

/** Global guard, deny by default: a route is public, or needs a valid token and a listed role. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  // Synchronous when the request was authenticated already (the server's first hook) or the
  // token's verdict is remembered: Nest awaits only a guard that returns a promise.
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const { isPublic, roles } = routeAccess(this.reflector, context);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<HttpRequest & AuthenticatedRequest>();
    const authenticated = this.authenticator.authenticate(request);
    if (!(authenticated instanceof Promise)) return admit(request, roles);
    return authenticated.then(() => admit(request, roles));
  }
}

/** Whether the authenticated principal's role may use the route. */
function admit(request: AuthenticatedRequest, roles: Role[] | undefined): true {
  const principal = request.principal;
  if (!principal) throw new Error('AuthGuard: authenticate() returned without a principal');
  // A route that forgot to declare its roles is closed, not open.
  if (!roles || roles.length === 0) throw RuleViolation.forbidden('This route is not open to any role.');
  if (!roles.includes(principal.role)) throw RuleViolation.forbidden(`The role ${principal.role} may not do this.`);
  return true;
}
