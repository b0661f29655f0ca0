import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import { UUID_PATTERN } from '../common/uuid';
import { routeAccess } from '../auth/route-access';
import { RuleViolation } from '../common/rule-violation';
import type { HttpRequest } from '../http/http-types';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The organization of a tenant route comes from the path (`:org_id`) and is checked against the
 * token here, once, for every such route: an org_admin only reaches its own organization; a
 * global_admin reads every organization and writes none.
 */
@Injectable()
export class OrgScopeGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const access = routeAccess(this.reflector, context);
    if (access.isPublic) return true;
    const request = context.switchToHttp().getRequest<HttpRequest & AuthenticatedRequest>();
    const principal = request.principal;
    if (!principal) throw RuleViolation.unauthorized('A bearer token is required.');

    const readOnly = READ_METHODS.has(request.method) || access.noSideEffects;
    if (principal.role === 'global_admin' && !readOnly) {
      throw RuleViolation.forbidden('Global admins have read-only access for support: no write of any kind.');
    }
    const orgId = request.params?.['org_id'];
    if (typeof orgId !== 'string') return true;
    if (principal.role === 'org_admin' && orgId.toLowerCase() !== principal.orgId) {
      throw RuleViolation.forbidden('Organization admins may only access their own organization.', 'org_scoped_access_only');
    }
    if (!UUID_PATTERN.test(orgId)) throw RuleViolation.notFound('Organization');
    return true;
  }
}
