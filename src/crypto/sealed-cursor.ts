// Page cursors sealed with AES-256-GCM. A list's position is a table-wide seq: in plain text a
// cursor told its holder how many rows every organization wrote between two reads, and any list
// took any cursor. Sealed, it reads as noise (a fixed-length position, a random IV) and opens only
// on the organization, list and filters it was issued for (the additional authenticated data).
// Pure: no Nest imports; the key is passed in.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Always 8 bytes: GCM's ciphertext is as long as its plaintext, so a decimal seq would show its magnitude.
const POSITION_BYTES = 8;
/** Per bound part (organization, list, filters): enough to tell which one differs, too short to say more. */
const HINT_BYTES = 3;
const MAX_POSITION = 2n ** 63n - 1n;
const MAX_KID_BYTES = 32;

/** The longest cursor (a 32-character key id): what the cursor parameter's pattern must admit. */
export const MAX_SEALED_CURSOR_LENGTH = Math.ceil(((2 + MAX_KID_BYTES + 3 * HINT_BYTES + IV_BYTES + POSITION_BYTES + TAG_BYTES) * 4) / 3);

/** A key of the keyring: its id and bytes. */
export interface CursorKey {
  id: string;
  secret: Buffer;
}

/** What a cursor is bound to: it opens only where all three are the same. */
export interface CursorBinding {
  orgId: string;
  /** The list, with the resource it belongs to: `sync_runs:<integration id>`, `audit_events`. */
  list: string;
  /** canonicalFilters() of the request's filter parameters. */
  filters: string;
}

export type CursorRefusal = 'malformed' | 'retired_key' | 'other_organization' | 'other_list' | 'other_filters' | 'tampered';
export type CursorOpening = { ok: true; position: bigint } | { ok: false; refusal: CursorRefusal };

/** The values a list filters by; unset ones (undefined, null) are left out. */
export type CursorFilters = Record<string, string | number | boolean | Date | null | undefined>;

/** One string for a set of filters, whatever the order of their keys. */
export function canonicalFilters(filters: CursorFilters): string {
  const entries = Object.keys(filters)
    .sort()
    .flatMap((name) => {
      const value = filters[name];
      if (value === undefined || value === null) return [];
      return [[name, value instanceof Date ? value.toISOString() : value]];
    });
  return JSON.stringify(entries);
}

/** `position` (a non-negative int8) sealed for `binding` under `key`: base64url, at most MAX_SEALED_CURSOR_LENGTH characters. */
export function sealCursor(position: bigint, binding: CursorBinding, key: CursorKey): string {
  if (position < 0n || position > MAX_POSITION) throw new RangeError('a cursor position is a non-negative int8');
  const kid = Buffer.from(key.id);
  if (kid.length === 0 || kid.length > MAX_KID_BYTES) throw new RangeError('a key id is 1 to 32 bytes');
  const { cipherKey, hintKey } = cursorSecrets(key.secret);
  const header = Buffer.concat([Buffer.from([VERSION, kid.length]), kid, hints(hintKey, binding)]);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', cipherKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, binding));
  const plain = Buffer.alloc(POSITION_BYTES);
  plain.writeBigUInt64BE(position);
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([header, iv, sealed, cipher.getAuthTag()]).toString('base64url');
}

/**
 * The position `cursor` was sealed with, when it was sealed for `binding` under a key `keyOf`
 * still gives (undefined for one no longer in the keyring); otherwise why not.
 */
export function openCursor(cursor: string, binding: CursorBinding, keyOf: (kid: string) => Buffer | undefined): CursorOpening {
  const bytes = Buffer.from(cursor, 'base64url');
  // Only the canonical encoding: another spelling of the same bytes is not a cursor this service issued.
  if (bytes.toString('base64url') !== cursor || bytes.length < 2 || bytes[0] !== VERSION) return { ok: false, refusal: 'malformed' };
  const kidLength = bytes[1];
  const headerLength = 2 + kidLength + 3 * HINT_BYTES;
  if (kidLength === 0 || kidLength > MAX_KID_BYTES || bytes.length !== headerLength + IV_BYTES + POSITION_BYTES + TAG_BYTES) return { ok: false, refusal: 'malformed' };
  const secret = keyOf(bytes.subarray(2, 2 + kidLength).toString());
  if (secret === undefined) return { ok: false, refusal: 'retired_key' };
  const { cipherKey, hintKey } = cursorSecrets(secret);
  const header = bytes.subarray(0, headerLength);
  const iv = bytes.subarray(headerLength, headerLength + IV_BYTES);
  const sealed = bytes.subarray(headerLength + IV_BYTES, headerLength + IV_BYTES + POSITION_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', cipherKey, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(header, binding));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    const plain = Buffer.concat([decipher.update(sealed), decipher.final()]);
    const position = plain.readBigUInt64BE();
    return position <= MAX_POSITION ? { ok: true, position } : { ok: false, refusal: 'tampered' };
  } catch {
    return { ok: false, refusal: mismatch(hintKey, header.subarray(2 + kidLength), binding) };
  }
}

/** Why a cursor did not open: the first bound part whose hint differs, or else it was altered. */
function mismatch(hintKey: Buffer, sent: Buffer, binding: CursorBinding): CursorRefusal {
  const expected = hints(hintKey, binding);
  const differs = (part: number) => !timingSafeEqual(sent.subarray(part * HINT_BYTES, (part + 1) * HINT_BYTES), expected.subarray(part * HINT_BYTES, (part + 1) * HINT_BYTES));
  if (differs(0)) return 'other_organization';
  if (differs(1)) return 'other_list';
  if (differs(2)) return 'other_filters';
  return 'tampered';
}

/** Keyed (a plain hash would let a cursor's holder test guesses of what it is bound to); authenticated as part of the header. */
function hints(hintKey: Buffer, binding: CursorBinding): Buffer {
  return Buffer.concat(
    [`organization:${binding.orgId}`, `list:${binding.list}`, `filters:${binding.filters}`].map((part) =>
      createHmac('sha256', hintKey).update(part).digest().subarray(0, HINT_BYTES),
    ),
  );
}

function additionalData(header: Buffer, binding: CursorBinding): Buffer {
  return Buffer.concat([header, Buffer.from(JSON.stringify([binding.orgId, binding.list, binding.filters]))]);
}

/** The cipher and hint keys derived from a keyring key, once per key (every page of every list would otherwise run HKDF). */
const cursorKeys = new WeakMap<Buffer, { cipherKey: Buffer; hintKey: Buffer }>();
function cursorSecrets(keyringKey: Buffer): { cipherKey: Buffer; hintKey: Buffer } {
  let derived = cursorKeys.get(keyringKey);
  if (!derived) {
    const bytes = Buffer.from(hkdfSync('sha256', keyringKey, Buffer.alloc(0), 'meander page cursor', 64));
    derived = { cipherKey: bytes.subarray(0, 32), hintKey: bytes.subarray(32) };
    cursorKeys.set(keyringKey, derived);
  }
  return derived;
}
