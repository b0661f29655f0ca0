import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_WINDOW_HOURS } from './idempotency-key';
import { IdempotencyInterceptor } from './idempotency.interceptor';

/** A POST a client may retry safely with an Idempotency-Key header (IdempotencyInterceptor). */
export const Idempotent = () =>
  applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: `Makes a retry safe (Stripe's semantics): the same key with the same request answers the first success again for ${IDEMPOTENCY_WINDOW_HOURS} hours, with Idempotent-Replayed: true; with another request 422 idempotency_key_reused_with_other_request; while the first runs 409 idempotency_key_in_use. A failed request keeps nothing: send it again with the same key.`,
      // No example: Swagger UI would fill it in, and every "Try it out" would send the same key.
      schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX_LENGTH, pattern: '^[\\x21-\\x7e]+$' },
    }),
  );
