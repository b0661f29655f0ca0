import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { Keyring, KeyringError } from './keyring';

const b64 = (bytes: number) => randomBytes(bytes).toString('base64');

/** Expects parse to throw a one-line KeyringError matching `message` and not leaking `secrets`. */
function expectParseError(spec: string, message: RegExp, secrets: string[], active?: string): void {
  let error: unknown;
  try {
    Keyring.parse(spec, active);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(KeyringError);
  const text = (error as Error).message;
  expect(text).toMatch(message);
  expect(text).not.toContain('\n');
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(8); // a meaningful leak check, not a trivial substring
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice(0, 12));
  }
}

describe('Keyring.parse', () => {
  it('parses entries, tolerating whitespace, with the last key active by default', () => {
    const [m1, m2] = [b64(32), b64(32)];
    const keyring = Keyring.parse(`  k1:${m1} ,\n k_2-x:${m2}  `);
    expect(keyring.ids()).toEqual(['k1', 'k_2-x']);
    expect(keyring.activeKeyId).toBe('k_2-x');
    expect(keyring.get('k1').equals(Buffer.from(m1, 'base64'))).toBe(true);
    expect(keyring.get('k_2-x').equals(Buffer.from(m2, 'base64'))).toBe(true);
    expect(keyring.has('k1')).toBe(true);
    expect(keyring.has('k3')).toBe(false);
  });

  it('uses the requested active key id', () => {
    const keyring = Keyring.parse(`k1:${b64(32)},k2:${b64(32)}`, 'k1');
    expect(keyring.activeKeyId).toBe('k1');
  });

  it('accepts a 32-character key id and refuses a 33-character one', () => {
    const material = b64(32);
    expect(Keyring.parse(`${'a'.repeat(32)}:${material}`).activeKeyId).toBe('a'.repeat(32));
    expectParseError(`${'a'.repeat(33)}:${material}`, /entry #1 has an invalid key id/, [material]);
  });

  it('refuses an unknown active key id, naming it but no key material', () => {
    const [m1, m2] = [b64(32), b64(32)];
    expectParseError(`k1:${m1},k2:${m2}`, /active encryption key id "k9" is not in ENCRYPTION_KEYS \(have: k1, k2\)/, [m1, m2], 'k9');
  });

  it('does not echo an active key id that is not a key id (it may be key material)', () => {
    const m1 = b64(32);
    expectParseError(`k1:${m1}`, /active encryption key id \(not a valid key id\)/, [m1], m1);
  });

  it.each(['', '   ', ',', ' , '])('refuses an empty spec %j', (spec) => {
    expect(() => Keyring.parse(spec)).toThrow(KeyringError);
    expect(() => Keyring.parse(spec)).toThrow(/ENCRYPTION_KEYS (is empty|entry #1 is empty)/);
  });

  it('refuses a stray comma, naming the position', () => {
    const m1 = b64(32);
    expectParseError(`k1:${m1},`, /entry #2 is empty/, [m1]);
  });

  it('refuses an entry without separator without echoing it', () => {
    const [m1, m2] = [b64(32), b64(32)];
    expectParseError(`k1:${m1},${m2}`, /entry #2 has no ":" separator/, [m1, m2]);
  });

  it.each([
    ['with a space', 'bad id'],
    ['with a dot', 'k.1'],
    ['empty', ''],
  ])('refuses a key id %s', (_label, id) => {
    const material = b64(32);
    expectParseError(`k1:${b64(32)},${id}:${material}`, /entry #2 has an invalid key id/, [material]);
  });

  it('refuses a duplicate id, naming it and both positions', () => {
    const [m1, m2, m3] = [b64(32), b64(32), b64(32)];
    expectParseError(`k1:${m1},k2:${m2},k1:${m3}`, /key "k1" \(ENCRYPTION_KEYS entry #3\) duplicates the id of entry #1/, [m1, m2, m3]);
  });

  it.each([
    ['a character outside the alphabet', (m: string) => `${m.slice(0, 10)}*${m.slice(11)}`],
    ['a base64url character', (m: string) => `-${m.slice(1)}`],
    ['missing padding', (m: string) => m.replace(/=+$/, '')],
    ['an inner space', (m: string) => `${m.slice(0, 20)} ${m.slice(20)}`],
  ])('refuses bad base64: %s', (_label, corrupt) => {
    const material = corrupt(b64(32));
    expectParseError(`k1:${b64(32)},k2:${material}`, /key "k2" \(ENCRYPTION_KEYS entry #2\) is not valid standard base64/, [material]);
  });

  it('refuses non-canonical base64 (unused low bits set)', () => {
    // 32 bytes = 43 chars + "="; the 43rd char carries 2 unused bits. "A" -> "B" sets one of them.
    const canonical = Buffer.alloc(32).toString('base64');
    const material = `${canonical.slice(0, 42)}B=`;
    expect(Buffer.from(material, 'base64').equals(Buffer.alloc(32))).toBe(true); // decoder ignores them
    expectParseError(`k1:${material}`, /key "k1" \(ENCRYPTION_KEYS entry #1\) is not canonical base64/, [material]);
  });

  it.each([31, 33, 16, 0])('refuses a key of %i bytes, naming the id and the size', (bytes) => {
    const material = b64(bytes);
    const secrets = bytes >= 8 ? [material] : [];
    expectParseError(`k1:${b64(32)},k7:${material}`, new RegExp(`key "k7" \\(ENCRYPTION_KEYS entry #2\\) decodes to ${bytes} bytes`), secrets);
  });

  it('never puts key material in any parse error (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 48 }), fc.string({ maxLength: 4 }), (bytes, noise) => {
        const material = Buffer.from(bytes).toString('base64') + noise;
        fc.pre(material.length > 8);
        try {
          Keyring.parse(`k1:${material}`);
        } catch (e) {
          expect(e).toBeInstanceOf(KeyringError);
          expect((e as Error).message).not.toContain(material);
        }
      }),
    );
  });
});

describe('Keyring', () => {
  it('generateSpec makes fresh parseable 32-byte keys', () => {
    const a = Keyring.generateSpec();
    const b = Keyring.generateSpec('k2');
    expect(a).toMatch(/^k1:[A-Za-z0-9+/]{43}=$/);
    expect(b.startsWith('k2:')).toBe(true);
    expect(a.slice(3)).not.toBe(b.slice(3));
    const keyring = Keyring.parse(`${a},${b}`);
    expect(keyring.get('k1')).toHaveLength(32);
    expect(keyring.activeKeyId).toBe('k2');
    expect(() => Keyring.generateSpec('bad id')).toThrow(KeyringError);
  });

  it('get throws a KeyringError for an unknown id', () => {
    const keyring = Keyring.parse(Keyring.generateSpec());
    expect(() => keyring.get('kX')).toThrow(new KeyringError('unknown encryption key id "kX"'));
  });

  it('never prints key material through inspect, JSON, String or template literals', () => {
    const [m1, m2] = [b64(32), b64(32)];
    const keyring = Keyring.parse(`k1:${m1},k2:${m2}`);
    const key1 = keyring.get('k1');
    const renderings = [
      inspect(keyring),
      inspect({ nested: { keyring } }, { depth: 10 }),
      inspect(keyring, { showHidden: true, customInspect: false, depth: 10 }),
      JSON.stringify(keyring),
      JSON.stringify({ keyring }),
      String(keyring),
      `${keyring}`,
    ];
    expect(inspect(keyring)).toBe("Keyring { ids: [ 'k1', 'k2' ], active: 'k2' }");
    expect(JSON.parse(JSON.stringify(keyring))).toEqual({ ids: ['k1', 'k2'], active: 'k2' });
    for (const text of renderings) {
      for (const secret of [m1, m2, key1.toString('hex'), key1.toString('base64url')]) {
        expect(text).not.toContain(secret.slice(0, 16));
      }
      expect(text).not.toMatch(/Buffer|Uint8Array|<[0-9a-f]{2} /);
    }
  });
});
