import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { IS_PUBLIC, NO_SIDE_EFFECTS, NOT_RATE_LIMITED, ROLES_KEY } from './auth.decorators';
import type { Role } from './principal';

/** What the guards need to know of a route, from its decorators (handler over class). */
export interface RouteAccess {
  isPublic: boolean;
  roles: Role[] | undefined;
  noSideEffects: boolean;
  notRateLimited: boolean;
}

// Decorator metadata is fixed once the app is built: read it once per route, not once per guard
// and request (three guards did ~10 reflect-metadata lookups on every request).
const resolved = new WeakMap<object, WeakMap<object, RouteAccess>>();

export function routeAccess(reflector: Reflector, context: ExecutionContext): RouteAccess {
  const handler = context.getHandler();
  const controller = context.getClass();
  let byHandler = resolved.get(controller);
  if (!byHandler) resolved.set(controller, (byHandler = new WeakMap()));
  let access = byHandler.get(handler);
  if (!access) {
    const targets = [handler, controller];
    access = {
      isPublic: reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) === true,
      roles: reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets),
      noSideEffects: reflector.getAllAndOverride<boolean>(NO_SIDE_EFFECTS, targets) === true,
      notRateLimited: reflector.getAllAndOverride<boolean>(NOT_RATE_LIMITED, targets) === true,
    };
    byHandler.set(handler, access);
  }
  return access;
}
