import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import { AlertsService } from '../src/alerts/alerts.service';
import { ServiceMetrics } from '../src/metrics/service-metrics';
import { Egress } from '../src/connectors/connectors.module';
import { TransactionRunner } from '../src/database/transaction';
import { issueToken } from '../src/auth/issue-token';
import { apiClient, expectProblem, rulesOf, type ApiClient } from './support/api';
import { killAllChildren, startServiceProcess } from './support/child-processes';
import { startXledgerFake, type XledgerFake } from './support/fakes/xledger-fake';
import { newOrgId, startTestApp, TEST_JWT_SECRET, type TestApp } from './support/test-app';
import { testCertificate } from './support/tls';
import { waitFor } from './support/wait';

jest.setTimeout(90_000);

/** Retries with backoff and a service process of its own: slower than the in-process specs. */
const ALERT_WAIT_MS = 45_000;

interface ReceivedAlert {
  headers: Record<string, string>;
  body: string;
  answered: number;
}

/** An organization's alert receiver over HTTPS (the per-run test certificate): records every POST; answers `failFirst` of them 503, the others 204 (200 with `answerBody` when given). */
async function startReceiver(failFirst = 0, answerBody?: string): Promise<{ url: string; received: ReceivedAlert[]; close(): Promise<void> }> {
  const { key, cert } = await testCertificate();
  const received: ReceivedAlert[] = [];
  const server: Server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answered = received.length < failFirst ? 503 : answerBody === undefined ? 204 : 200;
      received.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString(), answered });
      res.writeHead(answered).end(answered === 200 ? answerBody : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/meander`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('failure alerts: endpoints over HTTP (real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  async function admin() {
    const org = newOrgId();
    return { org, token: await t.token('org_admin', org), base: `/v1/organizations/${org}/alert-endpoints` };
  }

  it('shows the signing secret once, never again, and audits every change', async () => {
    const { org, token, base } = await admin();
    const created = await api.post(base, token, { url: 'https://ops.example.org/hooks', description: ' On call ' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: 'https://ops.example.org/hooks', description: 'On call', events: ['delivery.failed', 'credentials.rejected', 'integration.paused'] });
    expect(created.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const id = created.body.id as string;
    const read = await api.get(`${base}/${id}`, token);
    const list = await api.get(base, token);
    const rotated = await api.post(`${base}/${id}/signing-secret`, token);
    expect(rotated.status).toBe(201);
    expect(rotated.body.signing_secret).not.toBe(created.body.signing_secret);
    for (const res of [read, list]) {
      expect(res.status).toBe(200);
      expect(res.text).not.toContain('whsec_');
      expect(res.text).not.toContain('signing_secret');
    }
    const stored = JSON.stringify(await t.dataSource.query(`SELECT * FROM alert_endpoints WHERE id = $1`, [id]));
    expect(stored).not.toContain(rotated.body.signing_secret.slice(6));
    expect((await api.delete(`${base}/${id}`, token)).status).toBe(204);
    expectProblem(await api.get(`${base}/${id}`, token), 404, 'not_found');
    const trail = await api.get(`/v1/organizations/${org}/audit-events?resource_id=${id}`, token);
    expect(trail.body.items.map((e: { action: string }) => e.action)).toEqual(['alert_endpoint.deleted', 'alert_endpoint.secret_rotated', 'alert_endpoint.created']);
    // The create names every field it set: the description too, when one was given.
    expect(trail.body.items[2].changed_fields).toEqual(['url', 'description', 'signing_secret']);
    const bare = await api.post(base, token, { url: 'https://ops.example.org/bare' });
    const bareTrail = await api.get(`/v1/organizations/${org}/audit-events?resource_id=${bare.body.id}`, token);
    expect(bareTrail.body.items.map((e: { changed_fields: string[] }) => e.changed_fields)).toEqual([['url', 'signing_secret']]);
  });

  it('takes https URLs only, at most 10 per organization', async () => {
    const { token, base } = await admin();
    expect(rulesOf(await api.post(base, token, { url: 'http://ops.example.org/hooks' }))).toEqual(['url:base_url_must_be_https']);
    expect(rulesOf(await api.post(base, token, { url: 'https://user:pw@ops.example.org/' }))).toEqual(['url:base_url_must_be_https']);
    // A scheme in capitals, or blanks around or in it: refused as sent, not a 500 of the table's CHECK.
    for (const url of ['HTTPS://ops.example.org/hooks', ' https://ops.example.org/hooks', 'https://ops.example.org/hooks ']) {
      expect({ url, rules: rulesOf(await api.post(base, token, { url })) }).toEqual({ url, rules: ['url:base_url_must_be_https'] });
    }
    expectProblem(await api.post(base, token, { url: 'https://ops.example.org/', secret: 'mine' }), 400, 'validation_failed');
    // `events` is what the answer says an endpoint receives (every type), not a choice.
    expect(rulesOf(await api.post(base, token, { url: 'https://ops.example.org/', events: ['delivery.failed'] }))).toEqual(['events:unknown_field']);
    // At once: the creates of one organization queue up behind its count, so 10 and no more.
    const statuses = await Promise.all(Array.from({ length: 14 }, (_, i) => api.post(base, token, { url: `https://ops.example.org/${i}` }).then((res) => res.status)));
    expect(statuses.filter((status) => status === 201)).toHaveLength(10);
    expect(statuses.filter((status) => status === 422)).toHaveLength(4);
    expect((await api.get(base, token)).body.items).toHaveLength(10);
    expectProblem(await api.post(base, token, { url: 'https://ops.example.org/11' }), 422, 'alert_endpoints_within_bounds');
  });

  it('lets the org_admin manage its own, a global_admin read any, and nobody else in', async () => {
    const a = await admin();
    const b = await admin();
    const created = await api.post(a.base, a.token, { url: 'https://ops.example.org/a' });
    const global = await t.token('global_admin');
    const sync = await t.token('sync_service');
    expect((await api.get(a.base, global)).body.items).toHaveLength(1);
    expectProblem(await api.post(a.base, global, { url: 'https://ops.example.org/g' }), 403, 'forbidden');
    expectProblem(await api.get(a.base, sync), 403, 'forbidden');
    expectProblem(await api.get(a.base, b.token), 403, 'org_scoped_access_only');
    expectProblem(await api.delete(`${a.base}/${created.body.id}`, b.token), 403, 'org_scoped_access_only');
    // A's endpoint id under B's organization: not found, and still there.
    expectProblem(await api.get(`${b.base}/${created.body.id}`, b.token), 404, 'not_found');
    expectProblem(await api.delete(`${b.base}/${created.body.id}`, b.token), 404, 'not_found');
    expectProblem(await api.post(`${b.base}/${created.body.id}/signing-secret`, b.token), 404, 'not_found');
    expect((await api.get(`${a.base}/${created.body.id}`, a.token)).status).toBe(200);
    expectProblem(await api.get(a.base, null), 401, 'unauthorized');
  });

  it('lets an admin pause and resume a config by PATCH; paused, it takes no sync request', async () => {
    const { org, token } = await admin();
    const config = await api.post(`/v1/organizations/${org}/integrations`, token, {
      integration_type: 'xledger',
      display_name: 'X',
      base_url: 'https://x.example',
      api_key: 'k'.repeat(24),
      enabled: true,
    });
    const path = `/v1/organizations/${org}/integrations/${config.body.id}`;
    expect(config.body).toMatchObject({ paused: false, paused_at: null });
    expect(rulesOf(await api.patch(path, token, { paused: 'yes' }))).toEqual(['paused:paused_must_be_boolean']);
    expect(rulesOf(await api.patch(path, token, { paused: null }))).toEqual(['paused:paused_must_be_boolean']);
    const paused = await api.patch(path, token, { paused: true });
    expect(paused.body).toMatchObject({ paused: true, paused_at: expect.any(String) });
    expectProblem(await api.post(`${path}/sync`, token), 409, 'integration_paused');
    expect((await api.patch(path, token, { paused: false })).body).toMatchObject({ paused: false, paused_at: null });
    expect((await api.post(`${path}/sync`, token)).status).toBe(202);
    const trail = await api.get(`/v1/organizations/${org}/audit-events?action=integration_config.updated`, token);
    expect(trail.body.items.map((e: { changed_fields: string[] }) => e.changed_fields)).toEqual([['paused'], ['paused']]);
  });

  it('on shutdown takes no more alert jobs and lets the sends under way finish before the outbound connections close', async () => {
    const app = await startTestApp({ env: { DELIVERY_WORKERS: '1' } });
    let closed = false;
    try {
      const org = newOrgId();
      const created = await apiClient(app).post(`/v1/organizations/${org}/alert-endpoints`, await app.token('org_admin', org), { url: 'https://ops.example.org/hooks' });
      expect(created.status).toBe(201);
      const client = app.app.get(Egress).client;
      const order: string[] = [];
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      let sending!: () => void;
      const sent = new Promise<void>((resolve) => (sending = resolve));
      // The endpoint takes its time to answer; the connections' close is noted.
      jest.spyOn(client, 'request').mockImplementation(async () => {
        sending();
        await answered;
        order.push('answered');
        return { status: 204, headers: {}, body: Buffer.alloc(0) };
      });
      const close = client.close.bind(client);
      jest.spyOn(client, 'close').mockImplementation(() => {
        order.push('connections closed');
        close();
      });
      await app.app
        .get(TransactionRunner)
        .run((tx) => app.app.get(AlertsService).raise(org, 'delivery.failed', { integration_id: randomUUID(), integration_type: 'xledger', attempts: 1 }, tx));
      await sent;
      const closing = app.close();
      closed = true;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(order).toEqual([]);
      answer();
      await closing;
      expect(order).toEqual(['answered', 'connections closed']);
    } finally {
      if (!closed) await app.close();
    }
  });

  it('counts each send by outcome (meander_alert_sends_total): delivered, failed (retried), refused by the egress rule', async () => {
    const { org, token, base } = await admin();
    const created = await api.post(base, token, { url: 'https://ops.example.org/hooks' });
    const metrics = t.app.get(ServiceMetrics);
    const count = async (outcome: string) => Number((await metrics.scrape()).match(new RegExp(`^meander_alert_sends_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
    const before = { delivered: await count('delivered'), failed: await count('failed') };
    const client = t.app.get(Egress).client;
    const answers = [503, 204];
    const request = jest.spyOn(client, 'request').mockImplementation(async () => ({ status: answers.shift()!, headers: {}, body: Buffer.alloc(0) }));
    try {
      const job = { orgId: org, endpointId: created.body.id, event: { id: 'alert_m', type: 'delivery.failed', timestamp: new Date().toISOString(), data: {} } };
      await expect(t.app.get(AlertsService).send(job)).rejects.toThrow('the alert endpoint answered 503');
      await t.app.get(AlertsService).send(job);
    } finally {
      request.mockRestore();
    }
    expect({ delivered: await count('delivered'), failed: await count('failed') }).toEqual({ delivered: before.delivered + 1, failed: before.failed + 1 });
  });

  it('sends nothing to a loopback address while EGRESS_ALLOW_PRIVATE is off', async () => {
    const receiver = await startReceiver();
    try {
      const { org, token, base } = await admin();
      const created = await api.post(base, token, { url: receiver.url });
      const event = { id: 'alert_x', type: 'delivery.failed', timestamp: new Date().toISOString(), data: {} };
      // The job's handler itself: refused by the egress rule, not retried (it returns), nothing sent.
      const refusedBefore = (await t.app.get(ServiceMetrics).scrape()).match(/^meander_alert_sends_total\{outcome="refused"\} (\d+)$/m)?.[1] ?? '0';
      await expect(t.app.get(AlertsService).send({ orgId: org, endpointId: created.body.id, event })).resolves.toBeUndefined();
      expect(receiver.received).toEqual([]);
      expect((await t.app.get(ServiceMetrics).scrape()).match(/^meander_alert_sends_total\{outcome="refused"\} (\d+)$/m)?.[1]).toBe(String(Number(refusedBefore) + 1));
      // The organization's trail says why its endpoint heard nothing.
      const trail = await api.get(`/v1/organizations/${org}/audit-events?action=egress.refused`, token);
      expect(trail.body.items).toEqual([
        expect.objectContaining({
          resource_type: 'alert_endpoint',
          resource_id: created.body.id,
          actor: null,
          details: { purpose: 'alert', host: new URL(receiver.url).host, refused: 'loopback' },
        }),
      ]);
    } finally {
      await receiver.close();
    }
  });
});

/**
 * The real service (src/main.ts) in a child process delivering to the Xledger fake with a key the
 * fake refuses: the alerts its failures raise reach an HTTPS receiver, signed, retried, once each;
 * after ALERT_PAUSE_AFTER_FAILURES failed attempts the config pauses until an admin resumes it.
 */
describe('failure alerts: raised by the delivery engine, sent as durable jobs', () => {
  const METRICS_TOKEN = `metrics-${randomBytes(24).toString('base64url')}`;
  let base: string;
  let xledger: XledgerFake;
  let apiKey: string;

  beforeAll(async () => {
    const { caFile } = await testCertificate();
    apiKey = `xl-${randomBytes(24).toString('base64url')}`;
    xledger = await startXledgerFake({ apiKey });
    ({ base } = await startServiceProcess({
      DELIVERY_WORKERS: '1',
      DELIVERY_BACKOFF_BASE_MS: '100',
      DELIVERY_MAX_ATTEMPTS: '2',
      ALERT_PAUSE_AFTER_FAILURES: '3',
      ALERT_RETRY_DELAY_SECONDS: '1',
      EGRESS_ALLOW_PRIVATE: 'true',
      NODE_EXTRA_CA_CERTS: caFile,
      METRICS_TOKEN: METRICS_TOKEN,
    }));
  }, 120_000);

  afterAll(async () => {
    killAllChildren();
    await xledger?.close();
  });

  async function call(method: string, path: string, token: string, body?: unknown) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
  }

  it('alerts once for rejected credentials and once for a run failed for good, signed and retried; pauses after 3 failed attempts until resumed', async () => {
    const receiver = await startReceiver(1);
    try {
      const org = randomUUID();
      const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org });
      const endpoint = await call('POST', `/v1/organizations/${org}/alert-endpoints`, token, { url: receiver.url });
      expect(endpoint.status).toBe(201);
      const secret = endpoint.body.signing_secret as string;
      const wrongKey = `xl-wrong-${randomBytes(24).toString('base64url')}`;
      const config = await call('POST', `/v1/organizations/${org}/integrations`, token, {
        integration_type: 'xledger',
        display_name: 'Xledger (fake)',
        base_url: xledger.url,
        api_key: wrongKey,
        enabled: true,
        sync_frequency: 'realtime',
        accounting_code_mappings: { travel_km: '4001' },
        field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate', accounting_code: 'AccountCode' },
      });
      expect(config.status).toBe(201);
      const path = `/v1/organizations/${org}/integrations/${config.body.id}`;
      const record = { expense_type: 'travel_km', expense_amount: 100.5, expense_date: '2026-11-20' };
      const first = await call('POST', `${path}/exports`, token, { records: [record], deliver: true });
      expect(first.status).toBe(202);

      // Two attempts, both refused: the run fails for good.
      const failed = await waitFor(
        () => call('GET', `${path}/exports/${first.body.id}`, token),
        (res) => res.body.status === 'failed',
        ALERT_WAIT_MS,
      );
      expect(failed.body).toMatchObject({ status: 'failed', delivery: { attempts: 2 } });
      const settled = (types: string[]) => () => {
        const got = receiver.received.filter((r) => r.answered === 204).map((r) => JSON.parse(r.body).type as string);
        return types.every((type) => got.includes(type));
      };
      await waitFor(() => receiver.received, settled(['credentials.rejected', 'delivery.failed']), ALERT_WAIT_MS);

      // The third failed attempt in a row (the next run's first) pauses the config.
      const second = await call('POST', `${path}/exports`, token, { records: [record], deliver: true });
      expect(second.status).toBe(202);
      const paused = await waitFor(
        () => call('GET', path, token),
        (res) => res.body.paused === true,
        ALERT_WAIT_MS,
      );
      expect(paused.body).toMatchObject({ paused: true, paused_at: expect.any(String), last_sync_error: 'credentials_rejected' });
      await waitFor(() => receiver.received, settled(['integration.paused']), ALERT_WAIT_MS);
      const sync = await call('POST', `${path}/sync`, token);
      expect({ status: sync.status, code: sync.body.code }).toEqual({ status: 409, code: 'integration_paused' });
      // Paused: the retry that was due is worked (its job gone from the queue) and sends nothing.
      const requestsWhilePaused = xledger.requests.length;
      const db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
      await db.connect();
      try {
        const jobsLeft = await waitFor(
          async () =>
            Number(
              (
                await db.query(`SELECT count(*) FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state IN ('created', 'retry', 'active')`, [
                  config.body.id,
                ])
              ).rows[0].count,
            ),
          (n) => n === 0,
          ALERT_WAIT_MS,
        );
        expect(jobsLeft).toBe(0);
      } finally {
        await db.end();
      }
      expect(xledger.requests.length).toBe(requestsWhilePaused);

      // Every alert: verified by the reference library with the endpoint's secret; each type
      // delivered once; the one answered 503 was sent again with the same webhook-id.
      const wh = new Webhook(secret);
      const events = receiver.received.map((r) => ({ ...r, event: wh.verify(r.body, r.headers) as { id: string; type: string; data: Record<string, unknown> } }));
      const delivered = events.filter((r) => r.answered === 204).map((r) => r.event.type);
      expect([...delivered].sort()).toEqual(['credentials.rejected', 'delivery.failed', 'integration.paused']);
      const retried = events[0];
      expect(retried.answered).toBe(503);
      expect(events.filter((r) => r.event.id === retried.event.id).map((r) => r.answered)).toEqual([503, 204]);
      const failure = events.find((r) => r.event.type === 'delivery.failed')!.event;
      expect(failure.data).toMatchObject({ organization_id: org, integration_id: config.body.id, integration_type: 'xledger', export_run_id: first.body.id, attempts: 2 });
      for (const r of receiver.received) {
        expect(r.body).not.toContain(wrongKey);
        expect(JSON.stringify(r.headers)).not.toContain(wrongKey);
      }

      // The admin fixes the key and resumes: the waiting run is delivered.
      const resumed = await call('PATCH', path, token, { api_key: apiKey, paused: false });
      expect(resumed.body).toMatchObject({ paused: false, paused_at: null });
      const delivered2 = await waitFor(
        () => call('GET', `${path}/exports/${second.body.id}`, token),
        (res) => res.body.status === 'delivered',
        ALERT_WAIT_MS,
      );
      expect(delivered2.body.status).toBe('delivered');
      const trail = await call('GET', `/v1/organizations/${org}/audit-events?resource_id=${config.body.id}&action=integration_config.paused`, token);
      expect(trail.body.items).toEqual([expect.objectContaining({ actor: null, changed_fields: ['paused'], details: { consecutive_failures: 3 } })]);
    } finally {
      await receiver.close();
    }
  });

  it('takes an alert its endpoint answered 200 with a 20 KiB body as sent: once, counted delivered, never retried', async () => {
    // Past the 16 KiB the service reads of an endpoint's answer: the body is cut, the 2xx still decides.
    const receiver = await startReceiver(0, 'x'.repeat(20 * 1024));
    const sends = async () => {
      const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      const text = await res.text();
      const count = (outcome: string) => Number(text.match(new RegExp(`^meander_alert_sends_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
      return { delivered: count('delivered'), failed: count('failed') };
    };
    try {
      const before = await sends();
      const org = randomUUID();
      const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org });
      expect((await call('POST', `/v1/organizations/${org}/alert-endpoints`, token, { url: receiver.url })).status).toBe(201);
      const config = await call('POST', `/v1/organizations/${org}/integrations`, token, {
        integration_type: 'xledger',
        display_name: 'Xledger (fake)',
        base_url: xledger.url,
        api_key: `xl-wrong-${randomBytes(24).toString('base64url')}`,
        enabled: true,
        sync_frequency: 'realtime',
        accounting_code_mappings: { travel_km: '4001' },
        field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate', accounting_code: 'AccountCode' },
      });
      expect(config.status).toBe(201);
      const run = await call('POST', `/v1/organizations/${org}/integrations/${config.body.id}/exports`, token, {
        records: [{ expense_type: 'travel_km', expense_amount: 1, expense_date: '2026-11-20' }],
        deliver: true,
      });
      expect(run.status).toBe(202);
      const types = () => receiver.received.map((r) => JSON.parse(r.body).type as string).sort();
      await waitFor(types, (got) => got.includes('credentials.rejected') && got.includes('delivery.failed'), ALERT_WAIT_MS);
      // Longer than a retry would take (ALERT_RETRY_DELAY_SECONDS=1: 1–2 s, then the workers' 2 s poll).
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      expect(types()).toEqual(['credentials.rejected', 'delivery.failed']);
      const db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
      await db.connect();
      try {
        const { rows } = await db.query(`SELECT state, retry_count FROM pgboss.job WHERE name = 'meander-alerts' AND data->>'orgId' = $1`, [org]);
        expect(rows).toEqual([
          { state: 'completed', retry_count: 0 },
          { state: 'completed', retry_count: 0 },
        ]);
      } finally {
        await db.end();
      }
      expect(await sends()).toEqual({ delivered: before.delivered + 2, failed: before.failed });
    } finally {
      await receiver.close();
    }
  });
});
