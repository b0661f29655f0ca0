import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { apiClient, expectProblem, hlfPortalConfig, type ApiClient } from './support/api';
import { answerBeforeBody, type EarlyAnswer } from './support/early-answer';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

const READS = 8;
const WRITES = 5;
const PUBLIC = 4;

describe('abuse limits (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp({
      // Loopback is the proxy here, so X-Forwarded-For stands for distinct client addresses.
      env: { RATE_LIMIT_READS_PER_MINUTE: String(READS), RATE_LIMIT_WRITES_PER_MINUTE: String(WRITES), RATE_LIMIT_PUBLIC_PER_MINUTE: String(PUBLIC), TRUST_PROXY: 'loopback' },
    });
    api = apiClient(t);
  });
  afterAll(() => t.close());

  const configCount = async (org: string) => (await t.dataSource.query(`SELECT count(*)::int AS n FROM integration_configs WHERE organization_id = $1`, [org]))[0].n as number;
  const create = (org: string, token: string, name: string) =>
    api.post(`/v1/organizations/${org}/integrations`, token, { integration_type: 'xledger', display_name: name, base_url: 'https://x.example', api_key: 'k' });
  const createPortal = (org: string, token: string) =>
    api.post(`/v1/organizations/${org}/integrations`, token, {
      integration_type: 'hlf_portal',
      display_name: 'HLF',
      base_url: 'https://hlf.example',
      client_id: 'c',
      client_secret: 's',
    });

  it('limits writes per token across routes: 429 problem with Retry-After, nothing written; reads and other tokens go on', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const first = await create(org, token, 'first');
    expect(first.status).toBe(201);
    expect(first.headers).toMatchObject({ 'ratelimit-limit': String(WRITES), 'ratelimit-remaining': String(WRITES - 1) });
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThan(0);
    const path = `/v1/organizations/${org}/integrations/${first.body.id}`;
    // Another route and a refused body count against the same budget.
    for (let i = 0; i < WRITES - 2; i += 1) expect((await api.patch(path, token, { display_name: `renamed ${i}` })).status).toBe(200);
    expect((await api.post(`/v1/organizations/${org}/integrations`, token, { integration_type: 'nope' })).status).toBe(400);

    const before = await configCount(org);
    const refused = await createPortal(org, token);
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.headers).toMatchObject({ 'ratelimit-limit': String(WRITES), 'ratelimit-remaining': '0', 'ratelimit-reset': refused.headers['retry-after'] });
    expect(await configCount(org)).toBe(before);

    const read = await api.get(path, token);
    expect(read.status).toBe(200);
    // Reads have a budget of their own.
    expect(read.headers).toMatchObject({ 'ratelimit-limit': String(READS), 'ratelimit-remaining': String(READS - 1) });
    const otherToken = await t.token('org_admin', org, { sub: newOrgId() });
    expect((await createPortal(org, otherToken)).status).toBe(201);
  });

  it('limits reads per token on their own budget', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    for (let i = 0; i < READS; i += 1) expect((await api.get(`/v1/organizations/${org}/integrations`, token)).status).toBe(200);
    const refused = await api.get(`/v1/organizations/${org}/integrations`, token);
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await create(org, token, 'writes still go')).status).toBe(201);
  });

  it('does not count a request refused before its token is known (401 stays 401)', async () => {
    const org = newOrgId();
    for (let i = 0; i < WRITES + 2; i += 1) expectProblem(await create(org, 'not-a-token', 'x'), 401, 'unauthorized');
    expect((await create(org, await t.token('org_admin', org), 'fine')).status).toBe(201);
  });

  it('limits unauthenticated routes per client IP: other addresses and health probes are not affected', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const created = await api.post(`/v1/organizations/${org}/integrations`, token, hlfPortalConfig(secret));
    expect(created.status).toBe(201);
    const deliver = (ip: string) => {
      const webhookId = `msg_${randomBytes(8).toString('hex')}`;
      const payload = '{"type":"ping"}';
      // One instant for the header and the signature: read twice, a second could pass between.
      const at = new Date(Math.floor(Date.now() / 1000) * 1000);
      return t.http
        .post(`/v1/webhooks/${created.body.id}`)
        .set('X-Forwarded-For', ip)
        .set('webhook-id', webhookId)
        .set('webhook-timestamp', String(at.getTime() / 1000))
        .set('webhook-signature', new Webhook(secret).sign(webhookId, at, payload))
        .set('Content-Type', 'application/json')
        .send(payload);
    };
    const events = async () => (await t.dataSource.query(`SELECT count(*)::int AS n FROM webhook_events WHERE integration_id = $1`, [created.body.id]))[0].n as number;

    for (let i = 0; i < PUBLIC; i += 1) expect((await deliver('203.0.113.7')).status).toBe(202);
    const refused = await deliver('203.0.113.7');
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await events()).toBe(PUBLIC);

    expect((await deliver('198.51.100.9')).status).toBe(202);
    for (let i = 0; i < PUBLIC * 3; i += 1) expect((await t.http.get('/health/live').set('X-Forwarded-For', '203.0.113.7')).status).toBe(200);
  });

  function expectRefusedEarly(answer: EarlyAnswer | null, limit: number): void {
    // An answer at all: the rest of the announced body was never sent.
    expect(answer?.status).toBe(429);
    expect(answer?.contentType).toMatch(/^application\/problem\+json/);
    expect(answer?.body.code).toBe('rate_limited');
    expect(Number(answer?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(answer?.headers['ratelimit-limit']).toBe(String(limit));
  }

  it("refuses a token past its budget before reading the request's body (a 9 MiB export is not read to be refused)", async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const created = await create(org, token, 'budget');
    expect(created.status).toBe(201);
    for (let i = 1; i < WRITES; i += 1) expect((await api.patch(`/v1/organizations/${org}/integrations/${created.body.id}`, token, { display_name: `n${i}` })).status).toBe(200);
    const answer = await answerBeforeBody(
      t,
      'POST',
      `/v1/organizations/${org}/integrations/${created.body.id}/exports`,
      9 * 1024 * 1024,
      { authorization: `Bearer ${token}` },
      5_000,
    );
    expectRefusedEarly(answer, WRITES);
  });

  it('refuses an address past its public budget before reading the webhook body', async () => {
    const ip = '203.0.113.77';
    const unknown = `/v1/webhooks/${newOrgId()}`;
    // Refused deliveries draw on the address's budget like any other.
    for (let i = 0; i < PUBLIC; i += 1) expect((await t.http.post(unknown).set('X-Forwarded-For', ip).set('Content-Type', 'application/json').send('{}')).status).not.toBe(429);
    const answer = await answerBeforeBody(t, 'POST', unknown, 512 * 1024, { 'x-forwarded-for': ip }, 5_000);
    expectRefusedEarly(answer, PUBLIC);
  });
});
