// AES-256 keys by key id, parsed from ENCRYPTION_KEYS ("k1:<base64>,k2:<base64>").
// Pure module (no Nest imports). Key bytes live in a #private field and are never printed:
// error messages name ids and positions only, and inspect/JSON show ids and the active id.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const KEY_BYTES = 32;
// Standard alphabet with padding; the round-trip check below refuses non-canonical forms.
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class KeyringError extends Error {
  override name = 'KeyringError';
}

export class Keyring {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly activeKeyId: string;

  private constructor(keys: Map<string, Buffer>, activeKeyId: string) {
    this.#keys = keys;
    this.activeKeyId = activeKeyId;
  }

  /** Parses ENCRYPTION_KEYS; the active key is `activeKeyId` or else the last one listed. */
  static parse(spec: string, activeKeyId?: string): Keyring {
    if (typeof spec !== 'string' || spec.trim() === '') {
      throw new KeyringError('ENCRYPTION_KEYS is empty: expected comma-separated "id:base64" entries');
    }
    const keys = new Map<string, Buffer>();
    const positions = new Map<string, number>();
    spec.split(',').forEach((raw, index) => {
      const entry = raw.trim();
      const at = `ENCRYPTION_KEYS entry #${index + 1}`;
      if (entry === '') throw new KeyringError(`${at} is empty (stray comma?)`);
      const colon = entry.indexOf(':');
      // Never echo the entry itself: without a separator it may be bare key material.
      if (colon < 0) throw new KeyringError(`${at} has no ":" separator; expected "id:base64"`);
      const id = entry.slice(0, colon);
      const material = entry.slice(colon + 1);
      if (!KEY_ID_PATTERN.test(id)) {
        throw new KeyringError(`${at} has an invalid key id; ids must match [A-Za-z0-9_-]{1,32}`);
      }
      const where = `key "${id}" (${at})`;
      const previous = positions.get(id);
      if (previous !== undefined) {
        throw new KeyringError(`${where} duplicates the id of entry #${previous}`);
      }
      if (!STRICT_BASE64.test(material)) {
        throw new KeyringError(`${where} is not valid standard base64`);
      }
      const key = Buffer.from(material, 'base64');
      if (key.toString('base64') !== material) {
        throw new KeyringError(`${where} is not canonical base64`);
      }
      if (key.length !== KEY_BYTES) {
        throw new KeyringError(`${where} decodes to ${key.length} bytes; AES-256 needs exactly ${KEY_BYTES}`);
      }
      keys.set(id, key);
      positions.set(id, index + 1);
    });

    const ids = [...keys.keys()];
    if (activeKeyId === undefined) return new Keyring(keys, ids[ids.length - 1]);
    if (!keys.has(activeKeyId)) {
      // Only echo the requested id if it looks like one (it could be misplaced key material).
      const named = KEY_ID_PATTERN.test(activeKeyId) ? `"${activeKeyId}"` : '(not a valid key id)';
      throw new KeyringError(`active encryption key id ${named} is not in ENCRYPTION_KEYS (have: ${ids.join(', ')})`);
    }
    return new Keyring(keys, activeKeyId);
  }

  /** A fresh "id:base64" entry to append to ENCRYPTION_KEYS. */
  static generateSpec(id = 'k1'): string {
    if (!KEY_ID_PATTERN.test(id)) {
      throw new KeyringError('invalid key id; ids must match [A-Za-z0-9_-]{1,32}');
    }
    return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
  }

  has(kid: string): boolean {
    return this.#keys.has(kid);
  }

  get(kid: string): Buffer {
    const key = this.#keys.get(kid);
    if (!key) throw new KeyringError(`unknown encryption key id "${kid}"`);
    return key;
  }

  ids(): string[] {
    return [...this.#keys.keys()];
  }

  toJSON(): { ids: string[]; active: string } {
    return { ids: this.ids(), active: this.activeKeyId };
  }

  [inspect.custom](): string {
    return `Keyring ${inspect(this.toJSON())}`;
  }

  toString(): string {
    return this[inspect.custom]();
  }
}
