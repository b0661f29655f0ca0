import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { Keyring } from './keyring';
import { ENVELOPE_PATTERN, ENVELOPE_SQL_PATTERN, isEnvelope, SecretCipher, SecretDecryptionError, type SecretDecryptionReason, type SecretLocation } from './secret-cipher';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const OTHER = randomBytes(32).toString('base64');
const cipherOf = (spec: string, active?: string) => new SecretCipher(Keyring.parse(spec, active));

const at: SecretLocation = { table: 'integration_configs', column: 'api_key', rowId: '0b6f3f4e-1d2c-4f7a-9e51-2f6f1d0b9c3a' };
const SECRET = 'sk_live_correct horse battery staple';

type Parts = { kid: string; iv: Buffer; ciphertext: Buffer; tag: Buffer };
function split(envelope: string): Parts {
  const [enc, version, kid, iv, ciphertext, tag, ...rest] = envelope.split(':');
  expect([enc, version, rest]).toEqual(['enc', 'v1', []]);
  const decode = (s: string) => Buffer.from(s, 'base64url');
  return { kid, iv: decode(iv), ciphertext: decode(ciphertext), tag: decode(tag) };
}
function join({ kid, iv, ciphertext, tag }: Parts): string {
  return ['enc', 'v1', kid, ...[iv, ciphertext, tag].map((b) => b.toString('base64url'))].join(':');
}

/** Runs `fn`, expecting a SecretDecryptionError with `reason` whose message leaks none of `secrets`. */
function expectFailure(fn: () => unknown, reason: SecretDecryptionReason, message: RegExp, secrets: string[]): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SecretDecryptionError);
  const { reason: actual, message: text } = error as SecretDecryptionError;
  expect(actual).toBe(reason);
  expect(text).toMatch(message);
  for (const secret of secrets.filter((s) => s.length >= 8)) {
    expect(text).not.toContain(secret);
  }
}
/** Everything an error must never show: the envelope, its encoded parts, the plaintext, the keys. */
const leakables = (envelope: string, plaintext = SECRET) => [
  envelope,
  ...envelope.split(':').slice(3),
  plaintext,
  K1,
  K2,
  Buffer.from(K1, 'base64').toString('hex'),
  Buffer.from(K2, 'base64').toString('hex'),
];

const locationArb: fc.Arbitrary<SecretLocation> = fc.record({
  table: fc.stringMatching(/^[a-z_][a-z0-9_]{0,30}$/),
  column: fc.stringMatching(/^[a-z_][a-z0-9_]{0,30}$/),
  rowId: fc.string({ minLength: 1, maxLength: 40 }),
});

describe('SecretCipher', () => {
  const cipher = cipherOf(`k1:${K1},k2:${K2}`);

  describe('round trip', () => {
    it.each([
      ['grapheme', fc.string({ unit: 'grapheme' })],
      ['binary (any code point)', fc.string({ unit: 'binary' })],
    ])('decrypts what it encrypts for arbitrary %s strings and locations', (_label, plaintextArb) => {
      fc.assert(
        fc.property(plaintextArb, locationArb, (plaintext, location) => {
          const envelope = cipher.encrypt(plaintext, location);
          expect(envelope).toMatch(ENVELOPE_PATTERN);
          expect(isEnvelope(envelope)).toBe(true);
          expect(cipher.keyIdOf(envelope)).toBe('k2');
          expect(envelope).not.toContain(plaintext.length >= 4 ? plaintext : '\u0000never');
          expect(cipher.decrypt(envelope, location)).toBe(plaintext);
        }),
      );
    });

    it('round-trips the empty string (empty ciphertext segment)', () => {
      const envelope = cipher.encrypt('', at);
      expect(envelope).toMatch(/^enc:v1:k2:[A-Za-z0-9_-]{16}::[A-Za-z0-9_-]{22}$/);
      expect(envelope).toMatch(ENVELOPE_PATTERN);
      expect(cipher.decrypt(envelope, at)).toBe('');
    });

    it('uses a 12-byte IV and a 16-byte tag, under the active key id', () => {
      const parts = split(cipher.encrypt(SECRET, at));
      expect(parts.kid).toBe('k2');
      expect(parts.iv).toHaveLength(12);
      expect(parts.tag).toHaveLength(16);
      expect(parts.ciphertext).toHaveLength(Buffer.byteLength(SECRET)); // GCM: no padding
    });

    it('produces a different IV and ciphertext for each encryption of the same value', () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }), (plaintext) => {
          const a = split(cipher.encrypt(plaintext, at));
          const b = split(cipher.encrypt(plaintext, at));
          expect(a.iv.equals(b.iv)).toBe(false);
          expect(a.tag.equals(b.tag)).toBe(false);
        }),
      );
      // The ciphertext is as long as the plaintext: a 1-byte one repeats by chance 1 time in 256,
      // so compare ciphertexts from 16 bytes on (a chance repeat is then 2^-128).
      fc.assert(
        fc.property(fc.string({ minLength: 16, maxLength: 200 }), (plaintext) => {
          const a = split(cipher.encrypt(plaintext, at));
          const b = split(cipher.encrypt(plaintext, at));
          expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
        }),
      );
    });
  });

  describe('tampering fails closed', () => {
    it('refuses any single flipped bit in iv, ciphertext or tag with authentication_failed', () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.constantFrom('iv' as const, 'ciphertext' as const, 'tag' as const), fc.nat(), (plaintext, part, bit) => {
          const envelope = cipher.encrypt(plaintext, at);
          const parts = split(envelope);
          const bytes = Buffer.from(parts[part]);
          const position = bit % (bytes.length * 8);
          bytes[position >> 3] ^= 1 << (position & 7);
          const tampered = join({ ...parts, [part]: bytes });
          expect(tampered).not.toBe(envelope);
          expect(tampered).toMatch(ENVELOPE_PATTERN);
          expectFailure(() => cipher.decrypt(tampered, at), 'authentication_failed', /authentication failed/, [
            ...leakables(tampered, plaintext),
            ...leakables(envelope, plaintext),
          ]);
        }),
      );
    });

    it.each<[string, Partial<SecretLocation>]>([
      ['another row id', { rowId: '0b6f3f4e-1d2c-4f7a-9e51-2f6f1d0b9c3b' }],
      ['another column', { column: 'client_secret' }],
      ['another table', { table: 'webhook_endpoints' }],
    ])('refuses a value moved to %s', (_label, change) => {
      const envelope = cipher.encrypt(SECRET, at);
      const moved = { ...at, ...change };
      expectFailure(
        () => cipher.decrypt(envelope, moved),
        'authentication_failed',
        new RegExp(`cannot decrypt ${moved.table}\\.${moved.column} \\(row ${moved.rowId}\\) with key "k2": authentication failed`),
        leakables(envelope),
      );
      expect(cipher.decrypt(envelope, at)).toBe(SECRET);
    });

    it('refuses an envelope relabelled with another key id, even one holding the same key bytes', () => {
      // k1 and k2 share key bytes here, so only the AAD can tell them apart.
      const twin = cipherOf(`k1:${K1},k2:${K1}`);
      const envelope = twin.encrypt(SECRET, at);
      const relabelled = join({ ...split(envelope), kid: 'k1' });
      expect(twin.decrypt(envelope, at)).toBe(SECRET);
      expectFailure(() => twin.decrypt(relabelled, at), 'authentication_failed', /with key "k1": authentication failed/, leakables(relabelled));
    });

    it('refuses a value decrypted with a different key under the same id', () => {
      const envelope = cipherOf(`k1:${K1}`).encrypt(SECRET, at);
      expectFailure(() => cipherOf(`k1:${OTHER}`).decrypt(envelope, at), 'authentication_failed', /authentication failed/, [...leakables(envelope), OTHER]);
    });
  });

  describe('envelope parsing', () => {
    it('refuses an unknown key id with unknown_key_id, naming it and the location', () => {
      const envelope = cipherOf(`k9:${OTHER}`).encrypt(SECRET, at);
      expectFailure(
        () => cipher.decrypt(envelope, at),
        'unknown_key_id',
        /^cannot decrypt integration_configs\.api_key \(row 0b6f3f4e-1d2c-4f7a-9e51-2f6f1d0b9c3a\): encrypted with unknown encryption key id "k9" \(not in ENCRYPTION_KEYS\)$/,
        [...leakables(envelope), OTHER],
      );
      expect(() => cipher.decrypt(envelope, at)).toThrow(expect.objectContaining({ keyId: 'k9' }));
    });

    it.each<[string, (tag: string) => string]>([
      ['one character short', (tag) => tag.slice(0, -1)],
      ['12 bytes', (tag) => Buffer.from(tag, 'base64url').subarray(0, 12).toString('base64url')],
      ['4 bytes', (tag) => Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url')],
      ['empty', () => ''],
    ])('refuses a truncated tag (%s) as malformed', (_label, truncate) => {
      const envelope = cipher.encrypt(SECRET, at);
      const segments = envelope.split(':');
      segments[5] = truncate(segments[5]);
      const truncated = segments.join(':');
      expectFailure(() => cipher.decrypt(truncated, at), 'malformed_envelope', /not an enc:v1 envelope/, leakables(truncated));
    });

    it('refuses non-canonical base64url (unused low bits of the tag set) that would decode to the same tag', () => {
      const envelope = cipher.encrypt(SECRET, at);
      const segments = envelope.split(':');
      // 16 bytes = 22 chars; the last char carries 2 data bits and 4 unused ones.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(segments[5].slice(-1));
      segments[5] = segments[5].slice(0, -1) + alphabet[last | 1];
      const variant = segments.join(':');
      expect(variant).not.toBe(envelope);
      expect(Buffer.from(segments[5], 'base64url').equals(split(envelope).tag)).toBe(true);
      expectFailure(() => cipher.decrypt(variant, at), 'malformed_envelope', /tag is not canonical base64url/, leakables(variant));
    });

    it('refuses a ciphertext segment that is not whole base64url', () => {
      const segments = cipher.encrypt('abcdef', at).split(':');
      segments[4] = segments[4] + 'A'; // 8 + 1 chars: a dangling 6 bits
      const broken = segments.join(':');
      expect(broken).toMatch(ENVELOPE_PATTERN);
      expectFailure(() => cipher.decrypt(broken, at), 'malformed_envelope', /ciphertext is not canonical base64url/, leakables(broken));
    });

    it.each<[string, unknown]>([
      ['plain text', 'sk_live_plain_secret_value'],
      ['an empty string', ''],
      ['another version', 'enc:v2:k2:AAAAAAAAAAAAAAAA:QUJD:AAAAAAAAAAAAAAAAAAAAAA'],
      ['an extra segment', 'enc:v1:k2:AAAAAAAAAAAAAAAA:QUJD:AAAAAAAAAAAAAAAAAAAAAA:x'],
      ['surrounding whitespace', ' enc:v1:k2:AAAAAAAAAAAAAAAA:QUJD:AAAAAAAAAAAAAAAAAAAAAA'],
      ['a trailing newline', 'enc:v1:k2:AAAAAAAAAAAAAAAA:QUJD:AAAAAAAAAAAAAAAAAAAAAA\n'],
      ['a non-string', 42],
      ['null', null],
    ])('refuses %s as malformed_envelope', (_label, value) => {
      expectFailure(() => cipher.decrypt(value as string, at), 'malformed_envelope', /^cannot decrypt integration_configs\.api_key \(row [^)]+\): not an enc:v1 envelope$/, [
        'sk_live_plain_secret_value',
        'QUJD:AAAA',
      ]);
      expect(isEnvelope(value)).toBe(false);
      expectFailure(() => cipher.keyIdOf(value as string), 'malformed_envelope', /^cannot decrypt value: not an enc:v1 envelope$/, ['sk_live_plain_secret_value']);
    });

    it('keeps the SQL CHECK pattern identical to the anchored JS pattern', () => {
      expect(ENVELOPE_SQL_PATTERN).toBe(ENVELOPE_PATTERN.source);
      expect(ENVELOPE_PATTERN.flags).toBe('');
      expect(ENVELOPE_SQL_PATTERN.startsWith('^')).toBe(true);
      expect(ENVELOPE_SQL_PATTERN.endsWith('$')).toBe(true);
      // Only constructs that mean the same in PostgreSQL POSIX regexes (no \d, \w, lookarounds, …).
      expect(ENVELOPE_SQL_PATTERN).not.toMatch(/\\|\(\?|\|/);
    });

    it('refuses a location whose table or column contains ":" (the AAD would be ambiguous)', () => {
      expect(() => cipher.encrypt(SECRET, { table: 'a:b', column: 'c', rowId: '1' })).toThrow(TypeError);
      expect(() => cipher.encrypt(SECRET, { table: 'a', column: 'b:c', rowId: '1' })).toThrow(TypeError);
      expect(() => cipher.encrypt(SECRET, { ...at, rowId: '' })).toThrow(TypeError);
      expect(() => cipher.encrypt(SECRET, { ...at, table: '' })).toThrow(TypeError);
      // A row id may contain ":" since it is the last AAD field.
      const location = { ...at, rowId: 'org:42:cfg' };
      expect(cipher.decrypt(cipher.encrypt(SECRET, location), location)).toBe(SECRET);
    });

    it('does not print keys when the cipher is inspected or serialised', () => {
      const text = inspect(cipher, { depth: 10, showHidden: true }) + JSON.stringify(cipher);
      expect(text).not.toContain(K1.slice(0, 16));
      expect(text).not.toContain(K2.slice(0, 16));
    });
  });

  describe('rotation', () => {
    const old = cipherOf(`k1:${K1}`);
    const both = cipherOf(`k1:${K1},k2:${K2}`);
    const newOnly = cipherOf(`k2:${K2}`);

    it('decrypts an old k1 value under a k1,k2 keyring and re-encrypts it under k2', () => {
      const v1 = old.encrypt(SECRET, at);
      expect(both.activeKeyId).toBe('k2');
      expect(both.keyIdOf(v1)).toBe('k1');
      expect(both.needsRotation(v1)).toBe(true);
      expect(both.decrypt(v1, at)).toBe(SECRET);

      const v2 = both.reencrypt(v1, at);
      expect(v2).toMatch(ENVELOPE_PATTERN);
      expect(both.keyIdOf(v2)).toBe('k2');
      expect(both.needsRotation(v2)).toBe(false);
      expect(both.decrypt(v2, at)).toBe(SECRET);
      expect(newOnly.decrypt(v2, at)).toBe(SECRET);
      expect(both.reencrypt(v2, at)).toBe(v2);
    });

    it('re-encrypts under the active key chosen explicitly, too', () => {
      const back = cipherOf(`k1:${K1},k2:${K2}`, 'k1');
      const v2 = both.encrypt(SECRET, at);
      const v1 = back.reencrypt(v2, at);
      expect(back.keyIdOf(v1)).toBe('k1');
      expect(old.decrypt(v1, at)).toBe(SECRET);
    });

    it('cannot decrypt an old value once k1 is gone', () => {
      const v1 = old.encrypt(SECRET, at);
      expectFailure(() => newOnly.decrypt(v1, at), 'unknown_key_id', /unknown encryption key id "k1"/, leakables(v1));
      expectFailure(() => newOnly.reencrypt(v1, at), 'unknown_key_id', /unknown encryption key id "k1"/, leakables(v1));
    });

    it('authenticates before re-encrypting, even a value already under the active key', () => {
      const parts = split(both.encrypt(SECRET, at));
      parts.tag[0] ^= 1;
      const tampered = join(parts);
      expectFailure(() => both.reencrypt(tampered, at), 'authentication_failed', /authentication failed/, leakables(tampered));
      expectFailure(() => both.reencrypt(old.encrypt(SECRET, at), { ...at, rowId: 'other' }), 'authentication_failed', /row other/, []);
    });
  });
});
