import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import type { HttpRequest } from '../http/http-types';

/**
 * The organization of a tenant route, from the path, already checked against the token by
 * OrgScopeGuard. Services take it as their first argument.
 */
export const OrgId = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const orgId = context.switchToHttp().getRequest<HttpRequest>().params?.['org_id'];
  if (typeof orgId !== 'string') throw new Error('@OrgId() used on a route without :org_id');
  return orgId.toLowerCase();
});

/** Swagger description of the `org_id` path parameter, for controllers under an organization. */
export const ApiOrgIdParam = () => ApiParam({ name: 'org_id', format: 'uuid', description: "The organization (must be the token's own for org_admin)" });
