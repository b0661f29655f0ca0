// Idempotency-Key requests (Stripe's semantics): which key, and which request it was first sent
// with. Pure: no Nest imports.
import { createHmac, hash, hkdfSync } from 'node:crypto';
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
 * The refusal of a key on a route whose answer holds a secret shown once (refuses-idempotency-key.ts):
 * that answer is never stored, so a retry could not be given it; `next` says what to do instead.
 */
export function idempotencyKeyNotSupported(next: string): RuleViolation {
  return RuleViolation.validation([
    {
      field: 'Idempotency-Key',
      rule: 'idempotency_key_not_supported',
      message: `Idempotency-Key is not taken here: the answer holds a secret shown once, which is never stored, so it could not be replayed. ${next}`,
    },
  ]);
}

/** A key of the keyring: its id and bytes. */
export interface FingerprintKey {
  id: string;
  secret: Buffer;
}

/**
 * What makes two requests the same: the operation, its path parameters and its body, with object
 * keys in any order (the same parameters sent again are the same request). Kept for 24 hours, so
 * keyed: an HMAC under a key derived from one of the keyring's (named, `<kid>:<mac>`). A plain
 * hash would let whoever reads the table test guesses at the secrets a request carried.
 */
export function requestFingerprint(operation: string, params: unknown, body: unknown, key: FingerprintKey): string {
  return `${key.id}:${createHmac('sha256', fingerprintSecret(key.secret))
    .update(requestText(operation, params, body))
    .digest('base64url')}`;
}

/** Whether `stored` (a fingerprint kept by an earlier request) names this request; `keyOf` gives a key of the keyring, or undefined for one no longer in it. */
export function sameRequest(stored: string, operation: string, params: unknown, body: unknown, keyOf: (kid: string) => Buffer | undefined): boolean {
  const colon = stored.indexOf(':');
  // Kept before fingerprints were keyed (a plain SHA-256; gone 24 hours after the upgrade).
  if (colon < 0) return stored === hash('sha256', requestText(operation, params, body), 'base64url');
  const id = stored.slice(0, colon);
  const secret = keyOf(id);
  return secret !== undefined && stored === requestFingerprint(operation, params, body, { id, secret });
}

/** The HMAC key derived from a keyring key, once per key (an idempotent POST would otherwise run HKDF every time). */
const fingerprintSecrets = new WeakMap<Buffer, Buffer>();
function fingerprintSecret(keyringKey: Buffer): Buffer {
  let derived = fingerprintSecrets.get(keyringKey);
  if (!derived) {
    derived = Buffer.from(hkdfSync('sha256', keyringKey, Buffer.alloc(0), 'meander idempotency fingerprint', 32));
    fingerprintSecrets.set(keyringKey, derived);
  }
  return derived;
}

function requestText(operation: string, params: unknown, body: unknown): string {
  return JSON.stringify([operation, canonical(params), canonical(body)]);
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonical((value as Record<string, unknown>)[key]);
  return out;
}
