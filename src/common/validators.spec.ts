import { randomBytes } from 'node:crypto';
import { isWebhookSecret } from './validators';

describe('isWebhookSecret', () => {
  it('accepts whsec_ + canonical base64 of 24 to 64 bytes', () => {
    for (const n of [24, 32, 64]) expect(isWebhookSecret(`whsec_${randomBytes(n).toString('base64')}`)).toBe(true);
  });

  it('refuses other prefixes, sizes and non-canonical base64', () => {
    for (const value of [
      randomBytes(32).toString('base64'),
      `whsec_${randomBytes(23).toString('base64')}`,
      `whsec_${randomBytes(65).toString('base64')}`,
      'whsec_A+/=',
      'whsec_not base64',
      42,
      null,
    ]) {
      expect(isWebhookSecret(value)).toBe(false);
    }
  });
});
