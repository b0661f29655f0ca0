import { REDACTED } from '../logging/redact';
import { MAX_SYNC_ERROR_LENGTH, scrubSyncError } from './sync-error';

describe('scrubSyncError', () => {
  const secrets = ['xl-AbCdEf0123', 'cs_9f8e7d', 'whsec_QUJDREVGR0g=', null];

  it("removes the config's own secrets, however the upstream quoted them", () => {
    const text = 'upstream said: invalid key xl-AbCdEf0123 (client cs_9f8e7d); secret whsec_QUJDREVGR0g= refused; xl-AbCdEf0123 again';
    const out = scrubSyncError(text, secrets);
    for (const value of secrets) if (value) expect(out).not.toContain(value);
    expect(out).toBe(`upstream said: invalid key ${REDACTED} (client ${REDACTED}); secret ${REDACTED} refused; ${REDACTED} again`);
  });

  it('also removes secret-shaped text, keeps the rest, and bounds the length', () => {
    expect(scrubSyncError('got 401 with Bearer eyJa.eyJb.sig', [null])).toBe(`got 401 with Bearer ${REDACTED}`);
    expect(scrubSyncError('timeout after 30 s', secrets)).toBe('timeout after 30 s');
    expect(scrubSyncError('x'.repeat(MAX_SYNC_ERROR_LENGTH + 10), secrets)).toHaveLength(MAX_SYNC_ERROR_LENGTH);
  });

  it('ignores values too short to be secrets (they would mangle ordinary words)', () => {
    expect(scrubSyncError('the key is bad', ['is'])).toBe('the key is bad');
  });
});

describe('scrubSyncError in every encoding', () => {
  const apiKey = 'xl-Key/0123456789+abcdef';
  const whsec = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const otherConfigs = 'cs_other-config-secret';
  const secrets = [apiKey, whsec, otherConfigs];
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

  it.each([
    ['base64', b64(apiKey)],
    ['base64 without padding', b64(apiKey).replace(/=+$/, '')],
    ['base64url', b64(apiKey).replace(/\+/g, '-').replace(/\//g, '_')],
    ['hex', Buffer.from(apiKey).toString('hex')],
    ['upper-case hex', Buffer.from(apiKey).toString('hex').toUpperCase()],
    ['URL-encoded', encodeURIComponent(apiKey)],
    ['upper-case', apiKey.toUpperCase()],
    ['JSON-escaped', JSON.stringify(apiKey).slice(1, -1)],
    ['inside a Basic-auth credential', b64(`svc-user:${apiKey}`)],
    ['inside base64 at the second offset', b64(`ab${apiKey}tail`)],
    ['webhook secret without whsec_', whsec.slice('whsec_'.length)],
    ['webhook key as hex', Buffer.from('0123456789abcdef0123456789abcdef').toString('hex')],
    ["another config's secret", otherConfigs],
    ["another config's secret, base64", b64(otherConfigs)],
  ])('removes the secret %s', (_form, quoted) => {
    const out = scrubSyncError(`upstream refused credential <${quoted}> at 12:00`, secrets);
    expect(out).not.toContain(quoted);
    expect(out.startsWith('upstream refused credential <')).toBe(true);
    expect(out.endsWith('> at 12:00')).toBe(true);
  });

  it('leaves an error that quotes no secret as it was', () => {
    const text = `HTTP 500 from ${Buffer.from('ordinary text').toString('base64')} (request 4f2a)`;
    expect(scrubSyncError(text, secrets)).toBe(text);
  });
});
