import { Webhook } from 'standardwebhooks';
import { newWebhookSecret } from '../webhooks/signatures';
import { alertEvent, signedHeaders } from './alert-event';

describe('alert events', () => {
  const data = { organization_id: 'o', integration_id: 'i', integration_type: 'xledger' };

  it('are signed so that the Standard Webhooks reference library verifies them, and nothing else does', () => {
    const secret = newWebhookSecret();
    const event = alertEvent('delivery.failed', data);
    const body = JSON.stringify(event);
    const headers = signedHeaders(secret, event, body);
    expect(headers['webhook-id']).toBe(event.id);
    expect(new Webhook(secret).verify(body, headers)).toEqual(event);
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(body.replace('delivery.failed', 'integration.paused'), headers)).toThrow();
  });

  it('have ids that stay the same across retries and differ between events', () => {
    const event = alertEvent('credentials.rejected', data);
    const secret = newWebhookSecret();
    const body = JSON.stringify(event);
    expect(signedHeaders(secret, event, body, new Date(1_000_000))['webhook-id']).toBe(signedHeaders(secret, event, body, new Date(2_000_000))['webhook-id']);
    expect(alertEvent('credentials.rejected', data).id).not.toBe(event.id);
  });

  it('make secrets of 32 random bytes in the whsec_ form', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
  });
});
