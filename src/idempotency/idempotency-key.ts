// Idempotency-Key requests (Stripe's semantics): which key, and which request it was first sent
// with. Pure: no Nest imports.
import { hash } from 'node:crypto';
import { RuleViolation } from '../common/rule-violation';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** How long a key's first answer is replayed. */
export const IDEMPOTENCY_WINDOW_HOURS = 24;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
// Visible ASCII: a key is an opaque token (a UUID, usually), and is echoed in no header.
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The header's key; undefined when none was sent; a 400 when it is not one. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header === 'string' && IDEMPOTENCY_KEY_PATTERN.test(header)) return header;
  throw RuleViolation.validation([
    {
      field: 'Idempotency-Key',
      rule: 'idempotency_key_must_be_valid',
      message: `Idempotency-Key must be one header of 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters`,
    },
  ]);
}

/**
 * What makes two requests the same: the operation, its path parameters and its body, with object
 * keys in any order (the same parameters sent again are the same request).
 */
export function requestFingerprint(operation: string, params: unknown, body: unknown): string {
  return hash('sha256', JSON.stringify([operation, canonical(params), canonical(body)]), 'base64url');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonical((value as Record<string, unknown>)[key]);
  return out;
}
