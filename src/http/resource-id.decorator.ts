import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { UUID_PATTERN } from '../common/uuid';
import type { HttpRequest } from './http-types';
import { RuleViolation } from '../common/rule-violation';

/**
 * A resource id from the path (`@ResourceId('id')`), lower-cased: one that is not a UUID cannot
 * exist, so it is a 404, not a 500. A param decorator, not a pipe: Nest settles every piped
 * parameter through a chain of promises, and this check is synchronous.
 */
export const ResourceId = createParamDecorator((name: string, context: ExecutionContext): string => {
  const value = context.switchToHttp().getRequest<HttpRequest>().params?.[name];
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) throw RuleViolation.notFound('Resource');
  return value.toLowerCase();
});
