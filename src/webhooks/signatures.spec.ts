import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { REFUSAL_DETAILS, signStandardWebhook, verifyStandardWebhook, verifyXledgerWebhook, xledgerSigningKey } from './signatures';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const now = Math.floor(Date.now() / 1000);

/** Headers as the reference library produces them. */
function referenceHeaders(id: string, timestamp: number, payload: string, key = secret) {
  const signature = new Webhook(key).sign(id, new Date(timestamp * 1000), payload);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

describe('Standard Webhooks verification', () => {
  it('accepts what the reference library signs, for any UTF-8 body', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.stringMatching(/^msg_[A-Za-z0-9]{1,30}$/), (payload, id) => {
        const headers = referenceHeaders(id, now, payload);
        expect(verifyStandardWebhook(Buffer.from(payload, 'utf8'), headers, [secret], now)).toEqual({ ok: true, webhookId: id, scheme: 'standard_webhooks' });
      }),
      { numRuns: 300 },
    );
  });

  it('signs what the reference library verifies', () => {
    const payload = '{"type":"expense.approved","amount":120.5,"text":"Tromsø ✈"}';
    const signature = `v1,${signStandardWebhook(secret, 'msg_1', now, Buffer.from(payload))}`;
    expect(() => new Webhook(secret).verify(payload, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': signature })).not.toThrow();
  });

  it('matches the specification test vector', () => {
    // The Standard Webhooks specification's published example.
    const vectorSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = Buffer.from('{"test": 2432232314}');
    expect(signStandardWebhook(vectorSecret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe('g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
    expect(verifyStandardWebhook(body, headers, [vectorSecret], 1614265330).ok).toBe(true);
  });

  it('verifies the raw bytes, also when they are not UTF-8', () => {
    const body = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    const headers = { 'webhook-id': 'msg_bin', 'webhook-timestamp': String(now), 'webhook-signature': `v1,${signStandardWebhook(secret, 'msg_bin', now, body)}` };
    expect(verifyStandardWebhook(body, headers, [secret], now).ok).toBe(true);
    expect(verifyStandardWebhook(Buffer.from(body.toString('utf8')), headers, [secret], now).ok).toBe(false);
  });

  it('accepts one valid signature among several, and the previous secret', () => {
    const payload = '{"a":1}';
    const valid = referenceHeaders('msg_2', now, payload)['webhook-signature'];
    const headers = { 'webhook-id': 'msg_2', 'webhook-timestamp': String(now), 'webhook-signature': `v1,${randomBytes(32).toString('base64')} v2,abc ${valid}` };
    expect(verifyStandardWebhook(Buffer.from(payload), headers, [secret], now).ok).toBe(true);
    const previous = `whsec_${randomBytes(24).toString('base64')}`;
    const oldHeaders = referenceHeaders('msg_3', now, payload, previous);
    expect(verifyStandardWebhook(Buffer.from(payload), oldHeaders, [secret, previous], now).ok).toBe(true);
    expect(verifyStandardWebhook(Buffer.from(payload), oldHeaders, [secret], now)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('refuses missing headers, stale or future timestamps, tampering, and no secret', () => {
    const payload = '{"a":1}';
    const headers = referenceHeaders('msg_4', now, payload);
    const body = Buffer.from(payload);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const partial: Record<string, string> = { ...headers };
      delete partial[name];
      expect(verifyStandardWebhook(body, partial, [secret], now)).toMatchObject({ ok: false, reason: 'missing_headers' });
    }
    expect(verifyStandardWebhook(body, headers, [secret], now + 301).ok).toBe(false);
    expect(verifyStandardWebhook(body, headers, [secret], now - 301).ok).toBe(false);
    expect(verifyStandardWebhook(body, headers, [secret], now + 299).ok).toBe(true);
    expect(verifyStandardWebhook(body, { ...headers, 'webhook-timestamp': `${now}abc` }, [secret], now).ok).toBe(false);
    expect(verifyStandardWebhook(body, { ...headers, 'webhook-id': 'msg_other' }, [secret], now).ok).toBe(false);
    expect(verifyStandardWebhook(body, headers, [], now)).toMatchObject({ ok: false, reason: 'no_webhook_secret' });
    fc.assert(
      fc.property(fc.nat({ max: body.length * 8 - 1 }), (bit) => {
        const tampered = Buffer.from(body);
        tampered[bit >> 3] ^= 1 << (bit & 7);
        expect(verifyStandardWebhook(tampered, headers, [secret], now).ok).toBe(false);
      }),
    );
  });
  it('tells a sender that no signature matched in fixed words: nothing of the secrets, the signatures or the body', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (body, sent) => {
        const headers = { 'webhook-id': 'msg_5', 'webhook-timestamp': String(now), 'webhook-signature': `v1,${Buffer.from(sent).toString('base64')}` };
        const refusal = verifyStandardWebhook(Buffer.from(body), headers, [secret, `whsec_${randomBytes(32).toString('base64')}`], now);
        expect(refusal).toEqual({ ok: false, reason: 'bad_signature', detail: REFUSAL_DETAILS.noStandardMatch });
      }),
      { numRuns: 100 },
    );
  });

  it('names a webhook-signature header with no v1 entry at all (bare base64, the usual mistake) apart from one whose v1 entries do not match', () => {
    const payload = '{"a":1}';
    const body = Buffer.from(payload);
    const headers = referenceHeaders('msg_6', now, payload);
    const bare = headers['webhook-signature'].slice('v1,'.length);
    const noV1 = { ok: false, reason: 'no_v1_signature', detail: REFUSAL_DETAILS.noV1Signature };
    for (const signature of [bare, `v2,${bare}`, 'v1,', `${bare} v1a,${bare}`]) {
      expect([signature, verifyStandardWebhook(body, { ...headers, 'webhook-signature': signature }, [secret], now)]).toEqual([signature, noV1]);
    }
    // The header's form is told before the config's state, as the timestamp's is.
    expect(verifyStandardWebhook(body, { ...headers, 'webhook-signature': bare }, [], now)).toEqual(noV1);
    // v1 entries, none matching (a v1 beyond the 10 tried among them): the existing words, nothing more.
    const noMatch = { ok: false, reason: 'bad_signature', detail: REFUSAL_DETAILS.noStandardMatch };
    for (const signature of [
      `v1,${randomBytes(32).toString('base64')}`,
      `${bare} v1,${randomBytes(32).toString('base64')}`,
      `${'v2,x '.repeat(10)}${headers['webhook-signature']}`,
    ]) {
      expect([signature, verifyStandardWebhook(body, { ...headers, 'webhook-signature': signature }, [secret], now)]).toEqual([signature, noMatch]);
    }
  });
});

describe('Xledger webhook verification', () => {
  // Vectors computed straight from the published algorithm (xledger/graphql-samples,
  // ProjectSyncer.ValidSignature), independently of the implementation under test.
  const apiToken = randomBytes(32).toString('base64url');
  const dateHeader = new Date().toUTCString();
  const dateSeconds = Math.floor(Date.parse(dateHeader) / 1000);
  const body = '{"data":{"projects":{"edges":[{"node":{"dbId":1}}]}}}';
  const vector = createHmac('sha256', Buffer.from(apiToken, 'base64url')).update(`${dateSeconds}.${body}`, 'utf8').digest('base64url');
  // "Now" as of the Date header, not the wall clock when a check happens to run.
  const sentMs = dateSeconds * 1000;

  it('accepts the published scheme with the API token', () => {
    const result = verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': vector, date: dateHeader }, apiToken, sentMs);
    expect(result).toMatchObject({ ok: true, scheme: 'xledger', webhookId: expect.stringMatching(/^xl_[0-9a-f]{48}$/) });
  });

  it('refuses another token, another body, an old Date, and missing headers', () => {
    const other = randomBytes(32).toString('base64url');
    expect(verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': vector, date: dateHeader }, other, sentMs).ok).toBe(false);
    expect(verifyXledgerWebhook(Buffer.from(`${body} `), { 'x-xl-webhook-signature': vector, date: dateHeader }, apiToken, sentMs).ok).toBe(false);
    expect(verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': vector, date: dateHeader }, apiToken, sentMs + 16 * 60_000).ok).toBe(false);
    expect(verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': vector, date: dateHeader }, apiToken, sentMs + 14 * 60_000).ok).toBe(true);
    expect(verifyXledgerWebhook(Buffer.from(body), { date: dateHeader }, apiToken).ok).toBe(false);
    expect(verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': vector }, apiToken).ok).toBe(false);
    expect(verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': vector, date: dateHeader }, null)).toMatchObject({ ok: false, reason: 'no_api_key' });
  });

  it('is off for a token that is no canonical base64url key of 16 bytes or more: an empty-key HMAC cannot be forged', () => {
    const emptyKeySignature = createHmac('sha256', Buffer.alloc(0)).update(`${dateSeconds}.${body}`, 'utf8').digest('base64url');
    for (const token of ['x', '!!!!', 'ÆØÅ-nøkkel', 'a b c d', randomBytes(15).toString('base64url'), `${apiToken}!`, 'AB==']) {
      const forged = createHmac('sha256', Buffer.from(token, 'base64url')).update(`${dateSeconds}.${body}`, 'utf8').digest('base64url');
      for (const signature of [emptyKeySignature, forged]) {
        expect([token, verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': signature, date: dateHeader }, token, sentMs)]).toEqual([
          token,
          { ok: false, reason: 'api_key_not_a_signing_key', detail: expect.any(String) },
        ]);
      }
      expect(xledgerSigningKey(token)).toBeNull();
    }
    // Padding is optional; a signature in a non-canonical spelling is no signature.
    expect(xledgerSigningKey(`${randomBytes(16).toString('base64url')}==`)).toHaveLength(16);
    expect(verifyXledgerWebhook(Buffer.from(body), { 'x-xl-webhook-signature': `${vector}!`, date: dateHeader }, apiToken, sentMs)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });
});
