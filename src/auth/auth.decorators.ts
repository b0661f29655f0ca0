import { applyDecorators, createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiExtension } from '@nestjs/swagger';
import type { HttpRequest } from '../http/http-types';
import { requestLogFields } from '../logging/request-log';
import type { Principal, Role } from './principal';

export const IS_PUBLIC = 'auth:public';
export const ROLES_KEY = 'auth:roles';
/** The roles of an operation in the OpenAPI document (its description lists them). */
export const ROLES_EXTENSION = 'x-roles';

/** No bearer token needed: health, docs, inbound webhooks (they prove themselves otherwise). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * Marks a Fastify route whose caller is authenticated by the server's first hook, before the
 * body is read (authenticateBeforeBody). Set by `@Roles()`: every route that needs a token has it.
 */
export const AUTHENTICATED_ROUTE = 'meanderAuthenticated';

/**
 * The roles that may call a route. Every non-public route must declare them: the guard denies
 * routes that do not, and a spec fails when one is missing. On a method (a route), not a class:
 * the Fastify route flag is read from the handler only.
 */
export const Roles = (...roles: Role[]) => applyDecorators(SetMetadata(ROLES_KEY, roles), ApiExtension(ROLES_EXTENSION, roles), RouteConfig({ [AUTHENTICATED_ROUTE]: true }));

export const NO_SIDE_EFFECTS = 'auth:no-side-effects';

export const NOT_RATE_LIMITED = 'auth:not-rate-limited';

/** Counted against no budget (health probes: a flood elsewhere must not get the pod restarted). */
export const NotRateLimited = () => SetMetadata(NOT_RATE_LIMITED, true);

/**
 * A POST that changes nothing (previews): read-only roles may call it like a GET.
 */
export const NoSideEffects = () => SetMetadata(NO_SIDE_EFFECTS, true);

/** Read routes: every role may read (global_admin for support, sync_service for syncing). */
export const READ_ROLES: Role[] = ['org_admin', 'global_admin', 'sync_service'];

export interface AuthenticatedRequest {
  principal?: Principal;
  /** The digest of the request's verified token (tokenFingerprint): the key of its rate limits. */
  tokenFingerprint?: string;
}

/** The request's principal, with the request itself for the audit lines it leads to (Principal.request). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const request = context.switchToHttp().getRequest<AuthenticatedRequest & HttpRequest>();
  const principal = request.principal;
  if (!principal) throw new Error('CurrentPrincipal used on a public route');
  // A copy: the verified principal may be shared by the requests of one token (TokenVerifier).
  return { ...principal, request: requestLogFields(request) };
});
