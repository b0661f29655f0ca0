import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdempotencyRepository } from '../src/idempotency/idempotency.repository';
import { IntegrationConfigService } from '../src/integration-config/integration-config.service';
import { SyncRunRepository } from '../src/integration-config/sync-run.repository';
import { apiClient, expectProblem, type ApiClient } from './support/api';
import { newOrgId, startTestApp, TEST_ENCRYPTION_KEYS, type TestApp } from './support/test-app';
import { waitFor } from './support/wait';

const KEY = 'Idempotency-Key';

describe('Idempotency-Key on POST (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  const count = async (sql: string, params: unknown[]) => (await t.dataSource.query(sql, params))[0].n as number;
  const xledger = (name = 'X') => ({ integration_type: 'xledger', display_name: name, base_url: 'https://x.example', api_key: 'xl-key-0123456789', enabled: true });

  async function enabledConfig() {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, xledger());
    expect(res.status).toBe(201);
    return { org, token, path: `/v1/organizations/${org}/integrations/${res.body.id}` };
  }

  it('a replay that adds a query string is another request (422), not the stored answer; the route refuses the query itself', async () => {
    const { token, path } = await enabledConfig();
    const key = randomUUID();
    const run = { status: 'success', started_at: '2026-11-22T10:00:00Z' };
    expect((await api.post(`${path}/sync-runs`, token, run, { [KEY]: key })).status).toBe(201);
    expectProblem(await api.post(`${path}/sync-runs?x=1`, token, run, { [KEY]: key }), 422, 'idempotency_key_reused_with_other_request');
    const fresh = await api.post(`${path}/sync-runs?x=1`, token, run, { [KEY]: randomUUID() });
    expectProblem(fresh, 400, 'validation_failed');
    expect((await api.get(`${path}/sync-runs`, token)).body.items).toHaveLength(1);
  });

  it('creates a config once: the same key and request replay the first answer, its ETag included', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const key = randomUUID();
    const first = await api.post(`/v1/organizations/${org}/integrations`, token, xledger(), { [KEY]: key });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The same parameters in another order are the same request.
    const reordered = Object.fromEntries(Object.entries(xledger()).reverse());
    const again = await api.post(`/v1/organizations/${org}/integrations`, token, reordered, { [KEY]: key });
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(await count(`SELECT count(*)::int AS n FROM integration_configs WHERE organization_id = $1`, [org])).toBe(1);
    // Without a key the same request is a new one, refused by the rule it breaks.
    expectProblem(await api.post(`/v1/organizations/${org}/integrations`, token, xledger()), 409, 'one_config_per_integration_type_per_org');
  });

  it('refuses the same key with another request (422) and an invalid key (400)', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const key = randomUUID();
    expect((await api.post(`/v1/organizations/${org}/integrations`, token, xledger('first'), { [KEY]: key })).status).toBe(201);
    expectProblem(await api.post(`/v1/organizations/${org}/integrations`, token, xledger('other'), { [KEY]: key }), 422, 'idempotency_key_reused_with_other_request');
    for (const bad of ['k'.repeat(256), 'clé', 'two words']) {
      const res = await api.post(`/v1/organizations/${org}/integrations`, token, xledger('bad'), { [KEY]: bad });
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'Idempotency-Key', rule: 'idempotency_key_must_be_valid' })]);
    }
    expect(await count(`SELECT count(*)::int AS n FROM integration_configs WHERE organization_id = $1`, [org])).toBe(1);
  });

  it('keeps nothing for a refused request: its key may be sent again with a corrected body', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const key = randomUUID();
    expectProblem(await api.post(`/v1/organizations/${org}/integrations`, token, { ...xledger(), base_url: 'http://plain.example' }, { [KEY]: key }), 400, 'validation_failed');
    const fixed = await api.post(`/v1/organizations/${org}/integrations`, token, xledger(), { [KEY]: key });
    expect(fixed.status).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
  });

  it('scopes keys to the organization and principal', async () => {
    const key = randomUUID();
    for (let i = 0; i < 2; i += 1) {
      const org = newOrgId();
      const res = await api.post(`/v1/organizations/${org}/integrations`, await t.token('org_admin', org), xledger(), { [KEY]: key });
      expect({ status: res.status, replayed: res.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: undefined });
    }
  });

  // One tenant's (or principal's) key is no other's: the same key and request from someone else run
  // anew, never answered with the first caller's stored answer; the same principal in another
  // organization is not told its key was used with another request.
  it("never replays one principal's answer to another, nor across organizations", async () => {
    const { org, token, path } = await enabledConfig();
    const key = randomUUID();
    const run = { status: 'failed', started_at: '2026-11-22T10:00:00Z', error: 'first caller' };
    const first = await api.post(`${path}/sync-runs`, token, run, { [KEY]: key });
    expect(first.status).toBe(201);
    const services = [await t.token('sync_service'), await t.token('sync_service')];
    for (const other of [await t.token('org_admin', org), ...services]) {
      const res = await api.post(`${path}/sync-runs`, other, run, { [KEY]: key });
      expect({ status: res.status, replayed: res.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: undefined });
      expect(res.body.id).not.toBe(first.body.id);
      expect(res.body.recorded_by).not.toBe(first.body.recorded_by);
    }
    expect(await count(`SELECT count(*)::int AS n FROM sync_runs WHERE integration_id = $1`, [path.split('/').pop()])).toBe(4);
    // One sync service, one key, two organizations: two requests of its own, neither refused as a reuse.
    const sub = randomUUID();
    const service = await t.token('sync_service', null, { sub });
    for (const { path: elsewhere } of [await enabledConfig(), await enabledConfig()]) {
      const res = await api.post(`${elsewhere}/sync-runs`, service, run, { [KEY]: key });
      expect({ status: res.status, replayed: res.headers['idempotent-replayed'], by: res.body.recorded_by }).toEqual({ status: 201, replayed: undefined, by: sub });
    }
  });

  it('records a sync run once under 10 concurrent retries: one runs, the others replay it or hear 409', async () => {
    const { path } = await enabledConfig();
    const syncService = await t.token('sync_service');
    const key = randomUUID();
    const body = { status: 'success', started_at: new Date().toISOString(), records_pushed: 3 };
    const answers = await Promise.all(Array.from({ length: 10 }, () => api.post(`${path}/sync-runs`, syncService, body, { [KEY]: key })));
    const fresh = answers.filter((a) => a.status === 201 && a.headers['idempotent-replayed'] === undefined);
    expect(fresh).toHaveLength(1);
    for (const answer of answers.filter((a) => a !== fresh[0])) {
      if (answer.status === 201) expect(answer.body.id).toBe(fresh[0].body.id);
      else expectProblem(answer, 409, 'idempotency_key_in_use');
    }
    expect(await count(`SELECT count(*)::int AS n FROM sync_runs WHERE integration_id = $1`, [path.split('/').pop()])).toBe(1);
    const replay = await api.post(`${path}/sync-runs`, syncService, body, { [KEY]: key });
    expect({ status: replay.status, id: replay.body.id, replayed: replay.headers['idempotent-replayed'] }).toEqual({ status: 201, id: fresh[0].body.id, replayed: 'true' });
  });

  it('runs an export once: the retry gets the same run, byte for byte', async () => {
    const { path, token } = await enabledConfig();
    const items = [
      { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
      { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
      { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
    ];
    expect((await api.post(`${path}/field-mappings/bulk`, token, { items })).status).toBe(201);
    const key = randomUUID();
    const records = [{ claim_id: 'c-1', expense_type: 'travel_km', expense_amount: 10, expense_date: '2026-11-20' }];
    const first = await api.post(`${path}/exports`, token, { records }, { [KEY]: key });
    expect(first.status).toBe(201);
    const again = await api.post(`${path}/exports`, token, { records }, { [KEY]: key });
    expect({ status: again.status, replayed: again.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: 'true' });
    expect(again.text).toBe(first.text);
    // The same request with its ids spelled in capitals (one resource however spelled): replayed too, not refused as another request.
    const shouted = await api.post(
      `${path.toUpperCase().replace('/V1/ORGANIZATIONS/', '/v1/organizations/').replace('/INTEGRATIONS/', '/integrations/')}/exports`,
      token,
      { records },
      { [KEY]: key },
    );
    expect({ status: shouted.status, replayed: shouted.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: 'true' });
    expect(await count(`SELECT count(*)::int AS n FROM export_runs WHERE integration_id = $1`, [path.split('/').pop()])).toBe(1);
  });

  it('lets a client whose connection dropped after the commit retry safely', async () => {
    const { path } = await enabledConfig();
    const syncService = await t.token('sync_service');
    const key = randomUUID();
    const body = JSON.stringify({ status: 'failed', started_at: new Date().toISOString(), error: 'upstream 503' });
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    const integrationId = path.split('/').pop();
    const completed = () => count(`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1 AND state = 'completed'`, [key]);
    // The whole request is sent; once the server has committed it, the client drops the connection
    // without reading the answer. (Dropping it earlier is another case: the server may then never
    // read the body, and nothing is created.)
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: `${path}/sync-runs`,
      headers: { authorization: `Bearer ${syncService}`, 'content-type': 'application/json', [KEY]: key },
    });
    req.on('error', () => undefined);
    req.end(body);
    const deadline = Date.now() + 10_000;
    while ((await completed()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    req.destroy();
    expect(await completed()).toBe(1);
    const retry = await api.post(`${path}/sync-runs`, syncService, JSON.parse(body), { [KEY]: key });
    expect({ status: retry.status, replayed: retry.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: 'true' });
    expect(await count(`SELECT count(*)::int AS n FROM sync_runs WHERE integration_id = $1`, [integrationId])).toBe(1);
  }, 20_000);

  /** A sync run to record under a new key, and how many the config has. */
  async function keyedSyncRun() {
    const { path } = await enabledConfig();
    const token = await t.token('sync_service');
    const key = randomUUID();
    const body = { status: 'success', started_at: new Date().toISOString(), records_pushed: 1 };
    return {
      key,
      post: () => api.post(`${path}/sync-runs`, token, body, { [KEY]: key }),
      recorded: () => count(`SELECT count(*)::int AS n FROM sync_runs WHERE integration_id = $1`, [path.split('/').pop()]),
    };
  }

  it('never frees the key of a request that committed: an answer the database would not store leaves it in use (409), and the request ran once', async () => {
    const { key, post, recorded } = await keyedSyncRun();
    // The database refuses to store this key's answer: the sync run has committed by then.
    await t.dataSource.query(`CREATE FUNCTION refuse_stored_answer() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.key = '${key}' AND NEW.state = 'completed' THEN RAISE EXCEPTION 'answer not stored'; END IF; RETURN NEW; END $$`);
    await t.dataSource.query(`CREATE TRIGGER refuse_stored_answer BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_stored_answer()`);
    try {
      expect((await post()).status).toBe(500);
      expect(await recorded()).toBe(1);
      // The retry is not run again. At first it may be a request still running (retry shortly)…
      const soon = await post();
      expectProblem(soon, 409, 'idempotency_key_in_use');
      expect(soon.headers['retry-after']).toBe('1');
      // …minutes on, it is one that did not finish: the client is told to look the effect up, not to retry.
      await t.dataSource.query(`UPDATE idempotency_keys SET created_at = now() - interval '6 minutes' WHERE key = $1`, [key]);
      const stale = await post();
      expectProblem(stale, 409, 'idempotency_key_in_use');
      expect(stale.headers['retry-after']).toBeUndefined();
      expect(stale.body.detail).toMatch(/did not finish .*look its effect up/);
    } finally {
      await t.dataSource.query(`DROP TRIGGER refuse_stored_answer ON idempotency_keys`);
      await t.dataSource.query(`DROP FUNCTION refuse_stored_answer()`);
    }
    expect(await recorded()).toBe(1);
  });

  it('answers a sync run from inside its transaction: when reading it back fails, nothing was recorded and the retry records it once', async () => {
    const { post, recorded } = await keyedSyncRun();
    // The read that builds the answer fails once (a connection lost at that moment).
    const read = jest.spyOn(SyncRunRepository.prototype, 'findByOrgAndId').mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    try {
      expect((await post()).status).toBe(503);
    } finally {
      read.mockRestore();
    }
    expect(await recorded()).toBe(0);
    const retry = await post();
    expect({ status: retry.status, replayed: retry.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: undefined });
    expect(await recorded()).toBe(1);
  });

  it("frees a refused request's key even when the first try to free it fails: the refusal is answered as itself, and the corrected retry runs", async () => {
    const { path } = await enabledConfig();
    const token = await t.token('sync_service');
    const key = randomUUID();
    const refused = { status: 'failed', started_at: new Date().toISOString() };
    // The statement that frees the key is lost once (the connection dropped at that moment).
    const release = jest.spyOn(IdempotencyRepository.prototype, 'release').mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    try {
      // The answer is the request's own refusal, not the lost statement's 503.
      expectProblem(await api.post(`${path}/sync-runs`, token, refused, { [KEY]: key }), 400, 'validation_failed');
    } finally {
      release.mockRestore();
    }
    // Nothing was recorded, so the key is freed soon after (a second later), and the corrected request runs.
    const held = () => count(`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1`, [key]);
    expect(await waitFor(held, (n) => n === 0, 10_000)).toBe(0);
    const retry = await api.post(`${path}/sync-runs`, token, { ...refused, error: 'upstream 503' }, { [KEY]: key });
    expect({ status: retry.status, replayed: retry.headers['idempotent-replayed'] }).toEqual({ status: 201, replayed: undefined });
    expect(await count(`SELECT count(*)::int AS n FROM sync_runs WHERE integration_id = $1`, [path.split('/').pop()])).toBe(1);
  });

  it("never frees a key another request has claimed since: a late second try to free a refused request's key leaves the next request's claim alone", async () => {
    const { path } = await enabledConfig();
    const token = await t.token('sync_service');
    const key = randomUUID();
    const refused = { status: 'failed', started_at: new Date().toISOString() };
    const fixed = { ...refused, error: 'upstream 503' };
    // The key is freed, but its answer is lost: the interceptor tries again a moment later.
    const realRelease = IdempotencyRepository.prototype.release;
    const release = jest.spyOn(IdempotencyRepository.prototype, 'release').mockImplementationOnce(async function (this: IdempotencyRepository, ...args) {
      await realRelease.apply(this, args);
      throw new Error('Connection terminated unexpectedly');
    });
    // The corrected request that claims the key next takes its time (3 s before it writes anything).
    const realRecord = IntegrationConfigService.prototype.recordSyncRun;
    const record = jest.spyOn(IntegrationConfigService.prototype, 'recordSyncRun').mockImplementationOnce(async function (this: IntegrationConfigService, ...args) {
      await sleep(3_000);
      return realRecord.apply(this, args);
    });
    try {
      expectProblem(await api.post(`${path}/sync-runs`, token, refused, { [KEY]: key }), 400, 'validation_failed');
      const slow = api.post(`${path}/sync-runs`, token, fixed, { [KEY]: key });
      // While it runs, past the moment the late try to free the key comes: the key is still its own.
      await sleep(2_000);
      expectProblem(await api.post(`${path}/sync-runs`, token, fixed, { [KEY]: key }), 409, 'idempotency_key_in_use');
      expect((await slow).status).toBe(201);
    } finally {
      release.mockRestore();
      record.mockRestore();
    }
    expect(await count(`SELECT count(*)::int AS n FROM sync_runs WHERE integration_id = $1`, [path.split('/').pop()])).toBe(1);
  }, 20_000);

  it('keeps a keyed fingerprint of the request, never a plain hash of the secrets it carried; replays survive a key rotation', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const key = randomUUID();
    const body = { ...xledger(), api_key: 'xl-weak-key-0001' };
    expect((await api.post(`/v1/organizations/${org}/integrations`, token, body, { [KEY]: key })).status).toBe(201);
    const [row] = await t.dataSource.query(`SELECT request_fingerprint AS stored FROM idempotency_keys WHERE organization_id = $1 AND key = $2`, [org, key]);
    // Not what anyone holding the table could recompute from a guessed secret: HMAC under a key of the keyring, named.
    const unkeyed = createHash('sha256')
      .update(JSON.stringify(['IntegrationConfigController.create', { org_id: org }, Object.fromEntries(Object.entries(body).sort(([a], [b]) => a.localeCompare(b)))]))
      .digest('base64url');
    expect(row.stored).not.toContain(unkeyed);
    expect(row.stored).toMatch(/^test1:[A-Za-z0-9_-]{43}$/);
    // Another key active now (k2), the first still in the keyring: the same request still replays, another is still refused.
    const rotated = await startTestApp({ env: { ENCRYPTION_KEYS: `${TEST_ENCRYPTION_KEYS},k2:${randomBytes(32).toString('base64')}` } });
    try {
      const replay = await apiClient(rotated).post(`/v1/organizations/${org}/integrations`, token, body, { [KEY]: key });
      expect([replay.status, replay.headers['idempotent-replayed']]).toEqual([201, 'true']);
      expectProblem(
        await apiClient(rotated).post(`/v1/organizations/${org}/integrations`, token, { ...body, api_key: 'xl-weak-key-0002' }, { [KEY]: key }),
        422,
        'idempotency_key_reused_with_other_request',
      );
    } finally {
      await rotated.close();
    }
  });

  it('forgets a key after 24 hours', async () => {
    const { path } = await enabledConfig();
    const syncService = await t.token('sync_service');
    const key = randomUUID();
    const run = (records_pushed: number) => api.post(`${path}/sync-runs`, syncService, { status: 'success', started_at: new Date().toISOString(), records_pushed }, { [KEY]: key });
    expect((await run(1)).status).toBe(201);
    await t.dataSource.query(`UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute' WHERE key = $1`, [key]);
    const later = await run(2);
    expect({ status: later.status, replayed: later.headers['idempotent-replayed'], pushed: later.body.records_pushed }).toEqual({ status: 201, replayed: undefined, pushed: 2 });
  });
});
