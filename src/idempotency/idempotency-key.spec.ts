import { hash, randomBytes } from 'node:crypto';
import { requestFingerprint, sameRequest } from './idempotency-key';

describe('request fingerprints', () => {
  const k1 = { id: 'k1', secret: randomBytes(32) };
  const k2 = { id: 'k2', secret: randomBytes(32) };
  const keyOf = (kid: string) => ({ k1: k1.secret, k2: k2.secret })[kid];
  const body = { api_key: 'xl-weak-key', display_name: 'X', nested: { b: 1, a: 2 } };

  it('are keyed and named: the same request under one key, whatever its key order; another key or request differs', () => {
    const fingerprint = requestFingerprint('op', { org_id: 'o' }, body, k1);
    expect(fingerprint).toMatch(/^k1:[A-Za-z0-9_-]{43}$/);
    expect(requestFingerprint('op', { org_id: 'o' }, { nested: { a: 2, b: 1 }, display_name: 'X', api_key: 'xl-weak-key' }, k1)).toBe(fingerprint);
    expect(requestFingerprint('op', { org_id: 'o' }, body, k2)).not.toBe(fingerprint.replace('k1:', 'k2:'));
    expect(requestFingerprint('op', { org_id: 'o' }, { ...body, api_key: 'xl-weak-kez' }, k1)).not.toBe(fingerprint);
    // Not the plain hash a reader of the table could recompute from a guess.
    expect(fingerprint).not.toContain(hash('sha256', JSON.stringify(['op', { org_id: 'o' }, { api_key: 'xl-weak-key', display_name: 'X', nested: { a: 2, b: 1 } }]), 'base64url'));
  });

  it('are recognised under the key they were made with while the keyring holds it, and in their plain pre-upgrade form', () => {
    const underK1 = requestFingerprint('op', {}, body, k1);
    expect(sameRequest(underK1, 'op', {}, body, keyOf)).toBe(true);
    expect(sameRequest(underK1, 'op', {}, { ...body, display_name: 'Y' }, keyOf)).toBe(false);
    // k1 retired from the keyring: nothing can say it is the same request.
    expect(sameRequest(underK1, 'op', {}, body, (kid) => (kid === 'k2' ? k2.secret : undefined))).toBe(false);
    const plain = hash('sha256', JSON.stringify(['op', {}, { api_key: 'xl-weak-key', display_name: 'X', nested: { a: 2, b: 1 } }]), 'base64url');
    expect(sameRequest(plain, 'op', {}, body, keyOf)).toBe(true);
  });
});
