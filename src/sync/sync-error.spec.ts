import { REDACTED } from '../logging/redact';
import { MAX_SYNC_ERROR_LENGTH, scrubSyncError } from './sync-error';

describe('scrubSyncError', () => {
  const secrets = { api_key: 'xl-AbCdEf0123', client_secret: 'cs_9f8e7d', webhook_secret: 'whsec_QUJDREVGR0g=' };

  it("removes the config's own secrets, however the upstream quoted them", () => {
    const text = 'upstream said: invalid key xl-AbCdEf0123 (client cs_9f8e7d); secret whsec_QUJDREVGR0g= refused; xl-AbCdEf0123 again';
    const out = scrubSyncError(text, secrets);
    for (const value of Object.values(secrets)) expect(out).not.toContain(value);
    expect(out).toBe(`upstream said: invalid key ${REDACTED} (client ${REDACTED}); secret ${REDACTED} refused; ${REDACTED} again`);
  });

  it('also removes secret-shaped text, keeps the rest, and bounds the length', () => {
    expect(scrubSyncError('got 401 with Bearer eyJa.eyJb.sig', { api_key: null, client_secret: null, webhook_secret: null })).toBe(`got 401 with Bearer ${REDACTED}`);
    expect(scrubSyncError('timeout after 30 s', secrets)).toBe('timeout after 30 s');
    expect(scrubSyncError('x'.repeat(MAX_SYNC_ERROR_LENGTH + 10), secrets)).toHaveLength(MAX_SYNC_ERROR_LENGTH);
  });

  it('ignores values too short to be secrets (they would mangle ordinary words)', () => {
    expect(scrubSyncError('the key is bad', { api_key: 'is', client_secret: null, webhook_secret: null })).toBe('the key is bad');
  });
});
