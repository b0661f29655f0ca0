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
