import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { Webhook } from 'standardwebhooks';
import { apiClient, expectProblem, hlfPortalConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

const now = () => Math.floor(Date.now() / 1000);

describe('inbound webhooks (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp({ captureLogs: true });
    api = apiClient(t);
  });
  afterAll(() => t.close());

  async function setup(extra: Record<string, unknown> = {}, type = 'hlf_portal') {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const body =
      type === 'xledger'
        ? { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', enabled: true, webhook_secret: secret, ...extra }
        : { ...hlfPortalConfig(secret), ...extra };
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, body);
    expect(res.status).toBe(201);
    return { org, token, secret, id: res.body.id as string, configPath: `/v1/organizations/${org}/integrations/${res.body.id}` };
  }

  /** Signed by the reference library: an implementation independent of ours. */
  function deliver(
    id: string,
    secret: string,
    payload: string | Buffer,
    options: { webhookId?: string; timestamp?: number; contentType?: string; signature?: string; app?: TestApp; path?: string } = {},
  ) {
    const webhookId = options.webhookId ?? `msg_${randomBytes(8).toString('hex')}`;
    const timestamp = options.timestamp ?? now();
    const signature = options.signature ?? new Webhook(secret).sign(webhookId, new Date(timestamp * 1000), payload.toString());
    return (options.app ?? t).http
      .post(options.path ?? `/v1/webhooks/${id}`)
      .set('webhook-id', webhookId)
      .set('webhook-timestamp', String(timestamp))
      .set('webhook-signature', signature)
      .set('Content-Type', options.contentType ?? 'application/json')
      .send(payload);
  }

  const eventCount = async (id: string) => (await t.dataSource.query(`SELECT count(*)::int AS n FROM webhook_events WHERE integration_id = $1`, [id]))[0].n as number;

  it('stores a new delivery byte-exact (202), and a repeated webhook-id once (200)', async () => {
    const { id, secret, configPath, token } = await setup();
    const payload = '{ "type" : "activity.registered",\n\t"name": "Åse Ærø ✈",  "amount": 1e3 }  ';
    const first = await deliver(id, secret, payload, { webhookId: 'msg_fixed_1' });
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ id: expect.any(String), duplicate: false });
    const again = await deliver(id, secret, payload, { webhookId: 'msg_fixed_1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ duplicate: true });
    expect(await eventCount(id)).toBe(1);
    const [row] = await t.dataSource.query(`SELECT payload, signature_scheme FROM webhook_events WHERE id = $1`, [first.body.id]);
    expect(Buffer.compare(row.payload, Buffer.from(payload, 'utf8'))).toBe(0);
    const events = await api.get(`${configPath}/webhook-events`, token);
    expect(events.body.items).toEqual([
      { id: first.body.id, webhook_id: 'msg_fixed_1', received_at: expect.any(String), signature_scheme: 'standard_webhooks', payload, payload_base64: null },
    ]);
  });

  it('keeps a body that is not UTF-8 byte-exact and lists it with its base64 form', async () => {
    const { id, secret, configPath, token } = await setup();
    const bytes = Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xc5, 0x73, 0x65, 0xff, 0x22, 0x7d]); // {"n":"<latin-1 Å>se<0xff>"}
    const webhookId = 'msg_latin1';
    const timestamp = Math.floor(Date.now() / 1000);
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const mac = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from(`${webhookId}.${timestamp}.`), bytes]))
      .digest('base64');
    const res = await deliver(id, secret, bytes, { webhookId, timestamp, signature: `v1,${mac}`, contentType: 'application/octet-stream' });
    expect(res.status).toBe(202);
    const [row] = await t.dataSource.query(`SELECT payload FROM webhook_events WHERE id = $1`, [res.body.id]);
    expect(Buffer.compare(row.payload, bytes)).toBe(0);
    const [item] = (await api.get(`${configPath}/webhook-events`, token)).body.items;
    expect(Buffer.from(item.payload_base64, 'base64').equals(bytes)).toBe(true);
    expect(item.payload).toBe(bytes.toString('utf8'));
  });

  it('keeps the bytes received however the path is spelt (the route decides, not the URL as sent)', async () => {
    const { id, secret } = await setup();
    const payload = '{"type":"ping", "spaced" : true}';
    for (const path of [`/v1/%77ebhooks/${id}`, `/V1/WEBHOOKS/${id.toUpperCase()}`, `/v1/webhooks/${id}/`]) {
      const res = await deliver(id, secret, payload, { path });
      expect([path, res.status]).toEqual([path, 202]);
      const [row] = await t.dataSource.query(`SELECT convert_from(payload, 'UTF8') AS payload FROM webhook_events WHERE id = $1`, [res.body.id]);
      expect(row.payload).toBe(payload);
    }
    // Signed over an empty body while sending another: refused, as on the usual path.
    const emptySigned = new Webhook(secret).sign('msg_empty', new Date(), '');
    expectProblem(await deliver(id, secret, payload, { path: `/v1/%77ebhooks/${id}`, webhookId: 'msg_empty', signature: emptySigned }), 401, 'unauthorized');
  });

  it('stores non-JSON bodies as received', async () => {
    const { id, secret } = await setup();
    const payload = 'plain text, not JSON: 100%';
    const res = await deliver(id, secret, payload, { contentType: 'text/plain' });
    expect(res.status).toBe(202);
    const [row] = await t.dataSource.query(`SELECT convert_from(payload, 'UTF8') AS payload, content_type FROM webhook_events WHERE id = $1`, [res.body.id]);
    expect(row).toEqual({ payload, content_type: 'text/plain' });
  });

  it('stores ten concurrent copies of one delivery exactly once', async () => {
    const { id, secret } = await setup();
    const results = await Promise.all(Array.from({ length: 10 }, () => deliver(id, secret, '{"n":1}', { webhookId: 'msg_race' })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    expect(await eventCount(id)).toBe(1);
  });

  it('answers 401 for missing headers, bad signatures, stale or future timestamps and no secret; writes nothing', async () => {
    const { id, secret } = await setup();
    const logsBefore = t.logs.length;
    const cases = [
      t.http.post(`/v1/webhooks/${id}`).set('Content-Type', 'application/json').send('{}'),
      deliver(id, secret, '{}', { signature: `v1,${randomBytes(32).toString('base64')}` }),
      deliver(id, `whsec_${randomBytes(32).toString('base64')}`, '{}'),
      deliver(id, secret, '{}', { timestamp: now() - 900 }),
      deliver(id, secret, '{}', { timestamp: now() + 900 }),
      t.http.post(`/v1/webhooks/${id}`).set('webhook-id', 'msg_x').set('webhook-timestamp', String(now())).send('{}'),
    ];
    for (const res of await Promise.all(cases)) {
      expectProblem(res, 401, 'unauthorized');
      // A signature is no bearer token: no Bearer challenge.
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
    expect(await eventCount(id)).toBe(0);
    const noSecret = await setup({ webhook_secret: undefined, webhook_url: undefined });
    await t.dataSource.query(`UPDATE integration_configs SET webhook_secret_encrypted = NULL, webhook_url = NULL WHERE id = $1`, [noSecret.id]);
    expectProblem(await deliver(noSecret.id, noSecret.secret, '{}'), 401, 'unauthorized');
    // This test's refusals only: one audit line for each of the seven.
    const refusals = t.logs.slice(logsBefore).filter((line) => line.includes('webhook_refused'));
    expect(refusals).toHaveLength(7);
    expect(refusals.join('\n')).not.toContain(secret);
  });

  /** The detail of a refused delivery's 401. */
  const refusalDetail = (res: Response): string => {
    expectProblem(res, 401, 'unauthorized');
    return res.body.detail;
  };
  /** No run of `n` characters of `secretish` (a secret, a signature) appears in `text`. */
  const sharesNoPart = (text: string, secretish: string, n = 6) =>
    Array.from({ length: secretish.length - n + 1 }, (_, i) => secretish.slice(i, i + n)).every((run) => !text.includes(run));

  it("names the failing check in a 401's detail, each reason its own, never a secret or signature (Standard Webhooks)", async () => {
    const { id, secret } = await setup();
    const post = () => t.http.post(`/v1/webhooks/${id}`).set('Content-Type', 'application/json');

    expect(refusalDetail(await post().send('{}'))).toBe('Missing headers of the Standard Webhooks scheme: webhook-id, webhook-timestamp, webhook-signature.');
    expect(refusalDetail(await post().set('webhook-id', 'msg_x').set('webhook-timestamp', String(now())).send('{}'))).toBe(
      'Missing header of the Standard Webhooks scheme: webhook-signature.',
    );
    expect(refusalDetail(await deliver(id, secret, '{}', { webhookId: 'm'.repeat(256) }))).toBe('The webhook-id header is longer than 255 characters.');

    // Milliseconds, correctly signed over them: the usual mistake, named as such.
    const ms = Date.now();
    const msSignature = `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
      .update(`msg_ms.${ms}.{}`)
      .digest('base64')}`;
    expect(refusalDetail(await deliver(id, secret, '{}', { webhookId: 'msg_ms', timestamp: ms, signature: msSignature }))).toBe(
      'The webhook-timestamp header must be a Unix time in whole seconds (10 digits today): a timestamp in milliseconds is the usual mistake.',
    );
    expect(refusalDetail(await deliver(id, secret, '{}', { timestamp: now() - 17 * 60 }))).toBe(
      "The webhook-timestamp header is too old: it must be within 300 seconds of the server's time. Sign each attempt, retries too, with the current time, and check the sender's clock.",
    );
    expect(refusalDetail(await deliver(id, secret, '{}', { timestamp: now() + 17 * 60 }))).toBe(
      "The webhook-timestamp header is too new (in the future): it must be within 300 seconds of the server's time. Check the sender's clock.",
    );

    // Signed with another secret: the detail says no more than that nothing matched.
    const otherSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const at = now();
    const sent = new Webhook(otherSecret).sign('msg_wrong', new Date(at * 1000), '{"amount":1}');
    const expected = new Webhook(secret).sign('msg_wrong', new Date(at * 1000), '{"amount":1}');
    const wrong = refusalDetail(await deliver(id, secret, '{"amount":1}', { webhookId: 'msg_wrong', timestamp: at, signature: sent }));
    expect(wrong).toBe('No signature in the webhook-signature header matches the delivery.');
    for (const part of [secret.slice('whsec_'.length), otherSecret.slice('whsec_'.length), sent.slice(3), expected.slice(3), '{"amount":1}']) {
      expect([part, sharesNoPart(wrong, part)]).toEqual([part, true]);
    }

    // No v1 entry at all (the signature sent bare, the usual mistake): said so, and logged as its own reason.
    const reasonsBefore = t.logs.length;
    const bare = new Webhook(secret).sign('msg_bare', new Date(at * 1000), '{}').slice('v1,'.length);
    expect(refusalDetail(await deliver(id, secret, '{}', { webhookId: 'msg_bare', timestamp: at, signature: bare }))).toBe(
      'The webhook-signature header carries no v1 signature: it must be space-separated `v1,<base64>` values.',
    );
    const reasons = () =>
      t.logs
        .slice(reasonsBefore)
        .map((line) => JSON.parse(line))
        .filter((line) => line.event === 'webhook_refused')
        .map((line) => line.reason);
    expect(reasons()).toEqual(['no_v1_signature']);
    expect(refusalDetail(await deliver(id, secret, '{"amount":1}', { webhookId: 'msg_wrong', timestamp: at, signature: `${bare} ${sent}` }))).toBe(wrong);
    expect(reasons()).toEqual(['no_v1_signature', 'bad_signature']);

    const noSecret = await setup();
    await t.dataSource.query(`UPDATE integration_configs SET webhook_secret_encrypted = NULL, webhook_url = NULL WHERE id = $1`, [noSecret.id]);
    expect(refusalDetail(await deliver(noSecret.id, noSecret.secret, '{}'))).toBe(
      'This integration cannot verify deliveries yet: its administrator must finish its inbound webhook setup.',
    );
    expect(await eventCount(id)).toBe(0);
  });

  it("names the failing check in a 401's detail for Xledger's scheme too", async () => {
    const apiToken = randomBytes(32).toString('base64url');
    const xl = await setup({ api_key: apiToken, webhook_url: 'https://x.example/hooks' }, 'xledger');
    const body = '{"data":{}}';
    const signed = (date: string, token = apiToken) =>
      createHmac('sha256', Buffer.from(token, 'base64url'))
        .update(`${Math.floor(Date.parse(date) / 1000)}.${body}`)
        .digest('base64url');
    const send = (id: string, headers: Record<string, string>) => {
      let req = t.http.post(`/v1/webhooks/${id}`).set('Content-Type', 'application/json');
      for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
      return req.send(body);
    };
    const date = new Date().toUTCString();

    expect(refusalDetail(await send(xl.id, { 'X-XL-Webhook-Signature': signed(date) }))).toBe('Missing header of the Xledger scheme: Date.');
    expect(refusalDetail(await send(xl.id, { 'X-XL-Webhook-Signature': signed(date), Date: 'yesterday' }))).toBe(
      "The Date header must be an HTTP date, e.g. 'Sun, 22 Nov 2026 12:00:00 GMT'.",
    );
    const old = new Date(Date.now() - 17 * 60_000).toUTCString();
    expect(refusalDetail(await send(xl.id, { 'X-XL-Webhook-Signature': signed(old), Date: old }))).toBe(
      "The Date header is too old: it must be within 15 minutes of the server's time. Sign each attempt, retries too, with the current time, and check the sender's clock.",
    );
    const ahead = new Date(Date.now() + 17 * 60_000).toUTCString();
    expect(refusalDetail(await send(xl.id, { 'X-XL-Webhook-Signature': signed(ahead), Date: ahead }))).toBe(
      "The Date header is too new (in the future): it must be within 15 minutes of the server's time. Check the sender's clock.",
    );
    const wrongToken = randomBytes(32).toString('base64url');
    const wrong = refusalDetail(await send(xl.id, { 'X-XL-Webhook-Signature': signed(date, wrongToken), Date: date }));
    expect(wrong).toBe('The X-XL-Webhook-Signature header does not match the delivery.');
    for (const part of [apiToken, wrongToken, signed(date), signed(date, wrongToken)]) expect([part, sharesNoPart(wrong, part)]).toEqual([part, true]);

    const outboundOnly = await setup({ api_key: apiToken }, 'xledger');
    expect(refusalDetail(await send(outboundOnly.id, { 'X-XL-Webhook-Signature': signed(date), Date: date }))).toBe(
      'This integration cannot verify deliveries yet: its administrator must finish its inbound webhook setup.',
    );
    // A token that is no signing key reads like none: a caller learns nothing of its form.
    const noKey = await setup({ api_key: 'x', webhook_url: 'https://x.example/hooks' }, 'xledger');
    expect(refusalDetail(await send(noKey.id, { 'X-XL-Webhook-Signature': signed(date), Date: date }))).toBe(
      'This integration cannot verify deliveries yet: its administrator must finish its inbound webhook setup.',
    );
    expect(await eventCount(xl.id)).toBe(0);
  });

  it('answers 404 for unknown or malformed ids, 409 for a disabled config, 413 over 1 MiB', async () => {
    expectProblem(await deliver(randomUUID(), `whsec_${randomBytes(32).toString('base64')}`, '{}'), 404, 'not_found');
    expectProblem(await deliver('not-a-uuid', `whsec_${randomBytes(32).toString('base64')}`, '{}'), 404, 'not_found');
    const disabled = await setup({ enabled: false });
    expectProblem(await deliver(disabled.id, disabled.secret, '{}'), 409, 'disabled_integration_must_not_sync');
    expect(await eventCount(disabled.id)).toBe(0);
    const { id, secret } = await setup();
    const big = 'x'.repeat(1024 * 1024 + 1);
    expectProblem(await deliver(id, secret, big, { contentType: 'text/plain' }), 413, 'payload_too_large');
  });

  it('keeps the previous secret valid for 24 hours after a rotation, not after', async () => {
    const { id, secret, configPath, token } = await setup();
    const rotated = await api.post(`${configPath}/webhook-secret`, token);
    expect(rotated.status).toBe(201);
    expect((await deliver(id, secret, '{"old":1}')).status).toBe(202);
    expect((await deliver(id, rotated.body.webhook_secret, '{"new":1}')).status).toBe(202);
    await t.dataSource.query(`UPDATE integration_configs SET previous_webhook_secret_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    expectProblem(await deliver(id, secret, '{"old":2}'), 401, 'unauthorized');
    expect((await deliver(id, rotated.body.webhook_secret, '{"new":2}')).status).toBe(202);
  });

  it('rotations repeated within the 24 hours (their answers lost, say) keep the secret the sender still signs with, for its own 24 hours', async () => {
    const { id, secret: first, configPath, token } = await setup();
    const rotate = async () => (await api.post(`${configPath}/webhook-secret`, token)).body.webhook_secret as string;
    const verifies = async (signedWith: string) => (await deliver(id, signedWith, `{"n":"${randomUUID()}"}`)).status === 202;
    const lost = await rotate();
    const again = await rotate();
    expect(await Promise.all([first, lost, again].map(verifies))).toEqual([true, true, true]);
    // The first secret's 24 hours ran from the first rotation, not the second.
    const [row] = await t.dataSource.query(
      `SELECT previous_webhook_secret_expires_at AS previous, older_webhook_secret_expires_at AS older FROM integration_configs WHERE id = $1`,
      [id],
    );
    expect(new Date(row.older).getTime()).toBeLessThanOrEqual(new Date(row.previous).getTime());
    // Two replaced secrets at most: a third rotation keeps the oldest (the one a sender can still hold) and lets the newer replaced one go.
    const third = await rotate();
    expect(await Promise.all([first, lost, again, third].map(verifies))).toEqual([true, false, true, true]);
    // Once the oldest's 24 hours are over, it verifies no more, and the next rotation keeps the replaced one before it instead.
    await t.dataSource.query(`UPDATE integration_configs SET older_webhook_secret_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    expect(await verifies(first)).toBe(false);
    const fourth = await rotate();
    expect(await Promise.all([first, again, third, fourth].map(verifies))).toEqual([false, true, true, true]);
  });

  it("accepts Xledger's signature for xledger configs set up for inbound webhooks only", async () => {
    const apiToken = randomBytes(32).toString('base64url');
    const xl = await setup({ api_key: apiToken, webhook_url: 'https://x.example/hooks' }, 'xledger');
    const body = '{"data":{"projects":{"edges":[]}}}';
    const date = new Date().toUTCString();
    const signature = createHmac('sha256', Buffer.from(apiToken, 'base64url'))
      .update(`${Math.floor(Date.parse(date) / 1000)}.${body}`)
      .digest('base64url');
    const send = (id: string) => t.http.post(`/v1/webhooks/${id}`).set('X-XL-Webhook-Signature', signature).set('Date', date).set('Content-Type', 'application/json').send(body);
    const res = await send(xl.id);
    expect(res.status).toBe(202);
    expect((await send(xl.id)).body).toEqual({ duplicate: true });
    const [row] = await t.dataSource.query(`SELECT signature_scheme FROM webhook_events WHERE id = $1`, [res.body.id]);
    expect(row.signature_scheme).toBe('xledger');
    const other = await setup({ client_secret: apiToken });
    expectProblem(await send(other.id), 401, 'unauthorized');
    const wrongToken = await t.http
      .post(`/v1/webhooks/${xl.id}`)
      // Another first character: 6 bits of the HMAC. (Its last two made 'AA' by hand were, 1 run in ~256, the signature itself.)
      .set('X-XL-Webhook-Signature', (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1))
      .set('Date', date)
      .send(body);
    expectProblem(wrongToken, 401, 'unauthorized');
    // The same key and signature on a config without webhook_url: the scheme is off (no webhook secret configured).
    const outboundOnly = await setup({ api_key: apiToken }, 'xledger');
    expectProblem(await send(outboundOnly.id), 401, 'unauthorized');
    expect(await eventCount(outboundOnly.id)).toBe(0);
  });

  it('refuses a delivery signed with an empty key for an api_key that is no base64url key', async () => {
    const date = new Date().toUTCString();
    const body = '{"forged":true}';
    const emptyKey = createHmac('sha256', Buffer.alloc(0))
      .update(`${Math.floor(Date.parse(date) / 1000)}.${body}`)
      .digest('base64url');
    for (const apiKey of ['x', '!!!!', 'nøkkel-ÆØÅ']) {
      const xl = await setup({ api_key: apiKey, webhook_url: 'https://x.example/hooks' }, 'xledger');
      const res = await t.http.post(`/v1/webhooks/${xl.id}`).set('X-XL-Webhook-Signature', emptyKey).set('Date', date).set('Content-Type', 'application/json').send(body);
      expectProblem(res, 401, 'unauthorized');
      expect(await eventCount(xl.id)).toBe(0);
    }
    expect(t.logs.some((line) => JSON.parse(line).reason === 'api_key_not_a_signing_key')).toBe(true);
  });

  it('pages large events by their bytes too: a page holds at most 4 MiB of payloads, at least one event', async () => {
    const { id, secret, configPath, token } = await setup();
    // Six bodies of 1 MiB that are not UTF-8: each would be listed as ~4 MiB of JSON (U+FFFD text and base64).
    const bytes = (n: number) => Buffer.alloc(1024 * 1024, 0xf0 + n);
    for (let n = 0; n < 6; n++) {
      const webhookId = `msg_big_${n}`;
      const timestamp = now();
      const mac = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
        .update(Buffer.concat([Buffer.from(`${webhookId}.${timestamp}.`), bytes(n)]))
        .digest('base64');
      expect((await deliver(id, secret, bytes(n), { webhookId, timestamp, signature: `v1,${mac}`, contentType: 'application/octet-stream' })).status).toBe(202);
    }
    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api.get(`${configPath}/webhook-events?limit=200${cursor ? `&cursor=${cursor}` : ''}`, token);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeGreaterThanOrEqual(1);
      expect(res.body.items.length).toBeLessThanOrEqual(4);
      for (const item of res.body.items) {
        const n = Number(item.webhook_id.slice('msg_big_'.length));
        expect(Buffer.from(item.payload_base64, 'base64').equals(bytes(n))).toBe(true);
        listed.push(item.webhook_id);
      }
      cursor = res.body.next_cursor;
    } while (cursor);
    // Every event once, newest first, across the pages.
    expect(listed).toEqual(['msg_big_5', 'msg_big_4', 'msg_big_3', 'msg_big_2', 'msg_big_1', 'msg_big_0']);
    // Small events still fill a page up to its limit.
    const small = await setup();
    for (let i = 0; i < 3; i++) expect((await deliver(small.id, small.secret, `{"n":${i}}`)).status).toBe(202);
    const page = await api.get(`${small.configPath}/webhook-events?limit=3`, small.token);
    expect([page.body.items.length, page.body.next_cursor]).toEqual([3, null]);
  });

  describe('rate limits', () => {
    // A burst of 5 and then one delivery per 1000 s: no refill can happen while a test runs.
    // Loopback is the proxy, so X-Forwarded-For stands for distinct client addresses.
    let limitedApp: TestApp;
    beforeAll(async () => {
      limitedApp = await startTestApp({ env: { WEBHOOK_RATE_LIMIT_BURST: '5', WEBHOOK_RATE_LIMIT_PER_SECOND: '0.001', TRUST_PROXY: 'loopback' } });
    });
    afterAll(() => limitedApp.close());
    const forge = (path: string, from: string) => limitedApp.http.post(`/v1/webhooks/${path}`).set('X-Forwarded-For', from).send('{}');
    const sign = (id: string, secret: string, from: string) => {
      const webhookId = `msg_${randomBytes(8).toString('hex')}`;
      // One instant for the header and the signature: read twice, a second could pass between.
      const at = now();
      return limitedApp.http
        .post(`/v1/webhooks/${id}`)
        .set('X-Forwarded-For', from)
        .set('webhook-id', webhookId)
        .set('webhook-timestamp', String(at))
        .set('webhook-signature', new Webhook(secret).sign(webhookId, new Date(at * 1000), '{}'))
        .set('Content-Type', 'application/json')
        .send('{}');
    };

    it('forged deliveries draw on their address, never on the integration: the real sender still gets through', async () => {
      const { id, secret } = await setup();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await forge(id, '203.0.113.66')).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
      const limited = await forge(id, '203.0.113.66');
      expectProblem(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // The integration's own budget is untouched: the real sender, from its own address, gets its whole burst.
      for (let i = 0; i < 5; i++) expect((await sign(id, secret, '198.51.100.20')).status).toBe(202);
      expect(await eventCount(id)).toBe(5);
      // An address that spent its refusals is refused before any read: an unknown id is 429, not 404.
      expectProblem(await forge(randomUUID(), '203.0.113.66'), 429, 'rate_limited');
    });

    it('verified deliveries past the burst are limited per integration, however its id is spelled', async () => {
      const { id, secret } = await setup();
      for (let i = 0; i < 5; i++) expect((await sign(id, secret, '198.51.100.30')).status).toBe(202);
      const limited = await sign(id.toUpperCase(), secret, '198.51.100.31');
      expectProblem(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // The headers name the bucket that refused (a burst of 5, none left), not the address's public budget.
      expect([limited.headers['ratelimit-limit'], limited.headers['ratelimit-remaining'], limited.headers['ratelimit-reset']]).toEqual(['5', '0', limited.headers['retry-after']]);
      expect(await eventCount(id)).toBe(5);
      // Another integration has its own budget.
      const other = await setup();
      expect((await sign(other.id, other.secret, '198.51.100.30')).status).toBe(202);
    });

    it('concurrent forged deliveries from one address get no more reads than its budget', async () => {
      const { id } = await setup();
      const statuses = (await Promise.all(Array.from({ length: 40 }, () => forge(id, '203.0.113.99')))).map((res) => res.status);
      // A burst of 5: five are read and refused, the rest are refused before any read, however they overlap.
      expect(statuses.filter((status) => status === 401)).toHaveLength(5);
      expect(statuses.filter((status) => status === 429)).toHaveLength(35);
    });

    it('unknown integrations count as refusals of the address', async () => {
      const nowhere = randomUUID();
      for (let i = 0; i < 5; i++) expectProblem(await forge(nowhere, '192.0.2.77'), 404, 'not_found');
      expectProblem(await forge(nowhere, '192.0.2.77'), 429, 'rate_limited');
      expectProblem(await forge(randomUUID(), '192.0.2.78'), 404, 'not_found');
    });
  });

  it('lists events newest first in pages, org-scoped', async () => {
    const { id, secret, configPath, token } = await setup();
    for (let i = 0; i < 5; i++) expect((await deliver(id, secret, `{"n":${i}}`, { webhookId: `msg_${i}` })).status).toBe(202);
    const page1 = await api.get(`${configPath}/webhook-events?limit=2`, token);
    expect(page1.body.items.map((e: { webhook_id: string }) => e.webhook_id)).toEqual(['msg_4', 'msg_3']);
    const page2 = await api.get(`${configPath}/webhook-events?limit=2&cursor=${page1.body.next_cursor}`, token);
    expect(page2.body.items.map((e: { webhook_id: string }) => e.webhook_id)).toEqual(['msg_2', 'msg_1']);
    expect((await api.get(`${configPath}/webhook-events`, await t.token('global_admin'))).body.items).toHaveLength(5);
    const stranger = newOrgId();
    const strangerToken = await t.token('org_admin', stranger);
    expectProblem(await api.get(`${configPath}/webhook-events`, strangerToken), 403, 'org_scoped_access_only');
    expectProblem(await api.get(`/v1/organizations/${stranger}/integrations/${id}/webhook-events`, strangerToken), 404, 'not_found');
  });
});
