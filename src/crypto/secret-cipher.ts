// AES-256-GCM encryption of secrets stored in the database, as self-describing envelopes:
//   enc:v1:<kid>:<base64url iv>:<base64url ciphertext>:<base64url tag>
// The AAD binds each value to its version, key id and location (table, column, row id), so a
// value copied to another row/column/table, or relabelled with another key id, fails to decrypt.
// Pure module (no Nest imports). Error messages never contain plaintext, keys or ciphertext.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Keyring } from './keyring';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Anchored pattern of a v1 envelope (iv: 12 bytes = 16 chars, tag: 16 bytes = 22 chars). */
export const ENVELOPE_PATTERN = /^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$/;
/** Same pattern for a PostgreSQL `CHECK (col ~ '...')`; kept equal to ENVELOPE_PATTERN.source. */
export const ENVELOPE_SQL_PATTERN = '^enc:v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]*:[A-Za-z0-9_-]{22}$';
/** SQL for the key id an envelope in `column` names (its third part): what key rotation counts and selects by. */
export const envelopeKeyIdSql = (column: string) => `split_part(${column}, ':', 3)`;

export function isEnvelope(s: unknown): s is string {
  return typeof s === 'string' && ENVELOPE_PATTERN.test(s);
}

/** Where a secret lives; part of the AAD. `table` and `column` must not contain ":". */
export interface SecretLocation {
  table: string;
  column: string;
  rowId: string;
}

export type SecretDecryptionReason = 'malformed_envelope' | 'unknown_key_id' | 'authentication_failed';

export class SecretDecryptionError extends Error {
  override name = 'SecretDecryptionError';

  constructor(
    readonly reason: SecretDecryptionReason,
    message: string,
    readonly keyId?: string,
  ) {
    super(message);
  }
}

interface ParsedEnvelope {
  kid: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export class SecretCipher {
  readonly #keyring: Keyring;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
  }

  get activeKeyId(): string {
    return this.#keyring.activeKeyId;
  }

  encrypt(plaintext: string, at: SecretLocation): string {
    if (typeof plaintext !== 'string') throw new TypeError('SecretCipher.encrypt expects a string');
    checkLocation(at);
    const kid = this.#keyring.activeKeyId;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#keyring.get(kid), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(kid, at));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['enc', VERSION, kid, iv, ciphertext, tag].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join(':');
  }

  decrypt(envelope: string, at: SecretLocation): string {
    checkLocation(at);
    const { kid, iv, ciphertext, tag } = parse(envelope, at);
    if (!this.#keyring.has(kid)) {
      throw new SecretDecryptionError('unknown_key_id', `cannot decrypt ${describe(at)}: encrypted with unknown encryption key id "${kid}" (not in ENCRYPTION_KEYS)`, kid);
    }
    try {
      const decipher = createDecipheriv(ALGORITHM, this.#keyring.get(kid), iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(kid, at));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // Deliberately drop the crypto error: one reason for every tamper/wrong-key/wrong-place case.
      throw new SecretDecryptionError(
        'authentication_failed',
        `cannot decrypt ${describe(at)} with key "${kid}": authentication failed ` + '(tampered value, wrong key, or value copied from another table/column/row)',
        kid,
      );
    }
  }

  /** The key id named by an envelope (not authenticated until decrypt). */
  keyIdOf(envelope: string): string {
    return parse(envelope).kid;
  }

  needsRotation(envelope: string): boolean {
    return this.keyIdOf(envelope) !== this.#keyring.activeKeyId;
  }

  /** Re-encrypts under the active key; the value is always authenticated first. */
  reencrypt(envelope: string, at: SecretLocation): string {
    const plaintext = this.decrypt(envelope, at);
    return this.needsRotation(envelope) ? this.encrypt(plaintext, at) : envelope;
  }
}

// Table and column cannot contain ":" and kid cannot either, so this string is unambiguous.
function aad(kid: string, at: SecretLocation): Buffer {
  return Buffer.from(`enc:${VERSION}:${kid}:${at.table}:${at.column}:${at.rowId}`, 'utf8');
}

function checkLocation(at: SecretLocation): void {
  const ok =
    typeof at?.table === 'string' && typeof at.column === 'string' && typeof at.rowId === 'string' && /^[^:]+$/.test(at.table) && /^[^:]+$/.test(at.column) && at.rowId !== '';
  if (!ok) throw new TypeError('SecretLocation needs a non-empty table, column (without ":") and rowId');
}

function describe(at?: SecretLocation): string {
  return at ? `${at.table}.${at.column} (row ${at.rowId})` : 'value';
}

function parse(envelope: string, at?: SecretLocation): ParsedEnvelope {
  const malformed = (why: string) => new SecretDecryptionError('malformed_envelope', `cannot decrypt ${describe(at)}: ${why}`);
  if (!isEnvelope(envelope)) throw malformed('not an enc:v1 envelope');
  const [, , kid, ivText, ciphertextText, tagText] = envelope.split(':');
  const decode = (text: string, name: string): Buffer => {
    const bytes = Buffer.from(text, 'base64url');
    // Refuse non-canonical encodings so one value has exactly one envelope spelling.
    if (bytes.toString('base64url') !== text) throw malformed(`${name} is not canonical base64url`);
    return bytes;
  };
  const iv = decode(ivText, 'iv');
  const ciphertext = decode(ciphertextText, 'ciphertext');
  const tag = decode(tagText, 'tag');
  // The pattern already fixes these lengths; checked again so GCM never sees a short tag.
  if (iv.length !== IV_BYTES) throw malformed(`iv must be ${IV_BYTES} bytes`);
  if (tag.length !== TAG_BYTES) throw malformed(`tag must be ${TAG_BYTES} bytes`);
  return { kid, iv, ciphertext, tag };
}
