import { UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { HttpRequest } from '../http/http-types';
import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyNotSupported } from './idempotency-key';

/**
 * Refuses any Idempotency-Key (400 idempotency_key_not_supported) on a route whose answer holds a
 * secret shown once: @Idempotent() would keep that answer in idempotency_keys to replay it, and
 * ignoring the key would let a client believe its retry safe. A guard of the route, after the
 * global ones (401/403 first) and before the handler; never a global guard, which would also judge
 * a host application's own routes (docs/module.md).
 */
export class IdempotencyKeyRefusal implements CanActivate {
  constructor(readonly next: string) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<HttpRequest>();
    if (request.headers[IDEMPOTENCY_KEY_HEADER] !== undefined) throw idempotencyKeyNotSupported(this.next);
    return true;
  }
}

/** What a rotation's client does instead: rotating again is harmless, and replaces the secret it never saw. */
export const ROTATE_AGAIN = 'Send it again without the key: a new rotation replaces a secret whose answer was lost.';

/** A POST whose answer holds a secret shown once: a key is refused; `next` tells the client what to do instead. */
export const RefusesIdempotencyKey = (next: string) => UseGuards(new IdempotencyKeyRefusal(next));
