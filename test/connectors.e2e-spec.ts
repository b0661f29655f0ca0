import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { issueToken } from '../src/auth/issue-token';
import { dataverseKeyValue } from '../src/connectors/dynamics/dataverse-names';
import { killAllChildren, startServiceProcess, waitForExit, type ServiceProcess } from './support/child-processes';
import { parseBatchRequest, startDataverseFake, type DataverseFake, type RecordedRequest as DataverseRequest } from './support/fakes/dataverse-fake';
import { startXledgerFake, type XledgerFake } from './support/fakes/xledger-fake';
import { TEST_JWT_SECRET } from './support/test-app';
import { waitFor } from './support/wait';
import { testCertificate } from './support/tls';

jest.setTimeout(60_000);

const TENANT = 'contoso.onmicrosoft.com';
const CLIENT_ID = randomUUID();
const CLIENT_SECRET = `Qx8Q~dv.${randomBytes(18).toString('base64url')}`;
const WRONG_CLIENT_SECRET = `Zz9Z~wrong.${randomBytes(18).toString('base64url')}`;
const DYNAMICS_SET = 'msdyn_expenses';
const DYNAMICS_KEY = 'meander_reference';
const DYNAMICS_COLUMNS = { ExpenseAmount: 'msdyn_amount', ExpenseDate: 'msdyn_transactiondate', ContactId: 'msdyn_contactid' };
const HLF_SET = 'cr123_activities';
const HLF_KEY = 'cr123_meanderreference';
// The two tables as their CSDL declares them: the fake refuses, as Dataverse does, a column the entity lacks or a value its type cannot read.
const DYNAMICS_TABLE = {
  logicalName: 'msdyn_expense',
  columns: { [DYNAMICS_KEY]: 'string', msdyn_amount: 'money', msdyn_transactiondate: 'date', msdyn_description: 'string' },
} as const;
const HLF_TABLE = { logicalName: 'cr123_activity', columns: { [HLF_KEY]: 'string', ActivityDate: 'date', PeerMentorId: 'string' } } as const;
const MENTOR = '0c6a8e0b-6d0e-4c1a-9f1e-1a2b3c4d5e6f';
const BATCH_PATH = '/api/data/v9.2/$batch';

const XLEDGER_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'Amount', is_required: true },
  { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true },
  { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999' },
  { source_field: 'description', target_field: 'text' },
];
const DYNAMICS_MAPPINGS = [
  { source_field: 'expense_amount', target_field: 'ExpenseAmount', is_required: true },
  { source_field: 'expense_date', target_field: 'ExpenseDate', is_required: true },
  { source_field: 'peer_mentor_id', target_field: 'ContactId', is_required: true },
  { source_field: 'description', target_field: 'msdyn_description' },
];
const HLF_MAPPINGS = [
  { source_field: 'activity_date', target_field: 'ActivityDate' },
  { source_field: 'peer_mentor_id', target_field: 'PeerMentorId', is_required: true },
];

const METRICS_TOKEN = randomBytes(32).toString('base64url');
const TERMINAL = ['delivered', 'partially_delivered', 'failed', 'cancelled'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Config {
  org: string;
  token: string;
  id: string;
  path: string;
  exports: string;
}

/**
 * The real service (src/main.ts) in a child process, delivering over HTTPS to the local Xledger
 * and Dataverse fakes (trusted through NODE_EXTRA_CA_CERTS), driven over HTTP like a client.
 */
describe('connectors: the real service delivers to the Xledger and Dataverse fakes', () => {
  let service: ServiceProcess;
  let base: string;
  let db: Client;
  let dv: DataverseFake;
  const xledgerFakes: { fake: XledgerFake; keys: string[] }[] = [];
  /** Every config this spec made, every secret it gave one, every API answer it read. */
  const configIds: string[] = [];
  const secrets = new Set<string>([CLIENT_SECRET, WRONG_CLIENT_SECRET]);
  const responses: string[] = [];

  beforeAll(async () => {
    const { caFile } = await testCertificate();
    dv = await startDataverseFake({
      tenant: TENANT,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      entitySets: { [DYNAMICS_SET]: DYNAMICS_KEY, [HLF_SET]: HLF_KEY },
      lookups: { [DYNAMICS_SET]: { msdyn_contactid: 'contacts' } },
      columns: { [DYNAMICS_SET]: DYNAMICS_TABLE.columns, [HLF_SET]: HLF_TABLE.columns },
      logicalNames: { [DYNAMICS_SET]: DYNAMICS_TABLE.logicalName, [HLF_SET]: HLF_TABLE.logicalName },
    });
    service = await startServiceProcess({
      DELIVERY_WORKERS: '2',
      DELIVERY_BACKOFF_BASE_MS: '200',
      DELIVERY_MAX_ATTEMPTS: '4',
      EGRESS_ALLOW_PRIVATE: 'true',
      DYNAMICS_AUTHORITY_URL: dv.authorityUrl,
      NODE_EXTRA_CA_CERTS: caFile,
      METRICS_TOKEN,
    });
    base = service.base;
    db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    killAllChildren();
    await Promise.all([...xledgerFakes.map(({ fake }) => fake.close()), dv?.close()]);
    await db?.end();
  });

  // --- HTTP and setup ---

  async function call(method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    responses.push(text);
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  async function organization(): Promise<{ org: string; token: string }> {
    const org = randomUUID();
    return { org, token: await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org }) };
  }

  async function createConfig(owner: { org: string; token: string }, body: Record<string, unknown>, mappings: unknown[]): Promise<Config> {
    for (const key of ['api_key', 'client_secret']) if (typeof body[key] === 'string') secrets.add(body[key] as string);
    const created = await call('POST', `/v1/organizations/${owner.org}/integrations`, owner.token, body);
    expect(created.status).toBe(201);
    configIds.push(created.body.id);
    const path = `/v1/organizations/${owner.org}/integrations/${created.body.id}`;
    expect((await call('POST', `${path}/field-mappings/bulk`, owner.token, { items: mappings })).status).toBe(201);
    return { ...owner, id: created.body.id, path, exports: `${path}/exports` };
  }

  async function xledgerFake(): Promise<{ fake: XledgerFake; apiKey: string }> {
    const apiKey = `xl-${randomBytes(24).toString('base64url')}`;
    const fake = await startXledgerFake({ apiKey });
    xledgerFakes.push({ fake, keys: [apiKey] });
    return { fake, apiKey };
  }

  const xledgerConfig = (fake: XledgerFake, apiKey: string | undefined, extra: Record<string, unknown> = {}) => ({
    integration_type: 'xledger',
    display_name: 'Xledger (fake)',
    base_url: fake.url,
    api_key: apiKey,
    enabled: true,
    sync_frequency: 'realtime',
    accounting_code_mappings: { travel_km: '4001' },
    ...extra,
  });

  const dynamicsConfig = (extra: Record<string, unknown> = {}) => ({
    integration_type: 'dynamics',
    display_name: 'Dataverse (fake)',
    base_url: dv.url,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    tenant_id: TENANT,
    enabled: true,
    sync_frequency: 'realtime',
    extra_config: { entity_set: DYNAMICS_SET, alternate_key: DYNAMICS_KEY, columns: DYNAMICS_COLUMNS },
    ...extra,
  });

  const hlfConfig = (extra: Record<string, unknown> = {}) => ({
    integration_type: 'hlf_portal',
    display_name: 'HLF portal (fake)',
    base_url: dv.url,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    enabled: true,
    sync_frequency: 'realtime',
    extra_config: { tenant_id: TENANT, entity_set: HLF_SET, alternate_key: HLF_KEY },
    ...extra,
  });

  function claim(i: number, over: Record<string, unknown> = {}) {
    return {
      claim_id: randomUUID(),
      expense_type: 'travel_km',
      expense_amount: 100 + i + 0.25,
      expense_date: '2026-11-20',
      activity_date: '2026-11-19',
      peer_mentor_id: MENTOR,
      description: `Claim ${i}`,
      ...over,
    };
  }

  /** POST …/exports with deliver: 202, queued; the run id. */
  async function deliver(config: Config, records: unknown[]): Promise<string> {
    const res = await call('POST', config.exports, config.token, { records, deliver: true });
    expect({ status: res.status, run: res.body?.status }).toEqual({ status: 202, run: 'queued' });
    return res.body.id;
  }

  /** The run, once `done` says so (delivery is asynchronous); bounded. */
  async function waitForRun(config: Config, runId: string, done: (run: any) => boolean = (run) => TERMINAL.includes(run.status), timeoutMs = 30_000) {
    return waitFor(async () => (await call('GET', `${config.exports}/${runId}`, config.token)).body, done, timeoutMs, 150);
  }

  /** Every row of a delivered run, through the paged rows route. */
  async function rowsOf(config: Config, runId: string): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await call('GET', `${config.exports}/${runId}/rows?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, config.token);
      expect(res.status).toBe(200);
      items.push(...res.body.items);
      cursor = res.body.next_cursor;
    } while (cursor);
    return items;
  }

  const syncRuns = async (configId: string) =>
    (await db.query(`SELECT status, records_pushed, error, started_at FROM sync_runs WHERE integration_id = $1 ORDER BY seq`, [configId])).rows as {
      status: string;
      records_pushed: number;
      error: string | null;
      started_at: Date;
    }[];
  const brief = (runs: { status: string; records_pushed: number; error: string | null }[]) =>
    runs.map((r) => ({ status: r.status, records_pushed: r.records_pushed, error: r.error }));

  async function etagOf(config: Config): Promise<string> {
    const res = await call('GET', config.path, config.token);
    expect(res.status).toBe(200);
    return res.headers.get('etag') as string;
  }

  async function setEnabled(config: Config, enabled: boolean): Promise<void> {
    const res = await call('PATCH', config.path, config.token, { enabled }, { 'if-match': await etagOf(config) });
    expect({ status: res.status, enabled: res.body?.enabled }).toEqual({ status: 200, enabled });
  }

  /** The inputs of an `addGLImportItems` request: the value of its one variable. */
  const inputsOf = (request: XledgerFake['requests'][number]) => Object.values(request.body?.variables ?? {})[0] as { clientId: string; node: Record<string, unknown> }[];
  const batchesSince = (mark: number) => dv.requests.slice(mark).filter((r) => r.kind === 'api' && r.path === BATCH_PATH);
  const tokensSince = (mark: number) => dv.requests.slice(mark).filter((r) => r.kind === 'token');
  const bearerOf = (request: DataverseRequest) => /^Bearer (\S+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
  const upsertsOf = (request: DataverseRequest) =>
    parseBatchRequest(String(request.headers['content-type']), request.body).map((item) => ('request' in item ? `${item.request.method} ${item.request.url}` : 'changeset'));
  const recordsOf = (entitySet: string, runId: string) => dv.table(entitySet).filter((r) => r.key.startsWith(`meander_${runId}_`));
  const references = (runId: string, count: number) => Array.from({ length: count }, (_, i) => `meander:${runId}:${i}`);
  /** The alternate-key values Dataverse is sent for those rows (`:` is not addressable there). */
  const keys = (runId: string, count: number) => references(runId, count).map(dataverseKeyValue);

  // --- Xledger ---

  it('Xledger: a realtime export goes out as addGLImportItems (token auth, extIdentifier, decimal strings), ceil(rows / 500) requests; rows delivered with the dbId', async () => {
    const { fake, apiKey } = await xledgerFake();
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), XLEDGER_MAPPINGS);
    const records = Array.from({ length: 501 }, (_, i) => claim(i));
    const runId = await deliver(config, records);

    const run = await waitForRun(config, runId);
    expect(run).toMatchObject({ status: 'delivered', delivery: { attempts: 1, delivered_count: 501, failed_count: 0, last_error: null } });
    // 501 rows: ceil(501 / 500) = 2 requests, both the mutation, both with the token header.
    expect(fake.requests.map((r) => [r.method, r.operation, r.answer])).toEqual([
      ['POST', 'addGLImportItems', 200],
      ['POST', 'addGLImportItems', 200],
    ]);
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([`token ${apiKey}`, `token ${apiKey}`]);
    expect(fake.requests.map((r) => inputsOf(r).length)).toEqual([500, 1]);
    const nodes = fake.requests.flatMap((r) => inputsOf(r).map((input) => input.node));
    expect(nodes).toEqual(
      records.map((_, i) => ({ amount: `${100 + i}.25`, postedDate: '2026-11-20', account: { code: '4001' }, text: `Claim ${i}`, extIdentifier: `meander:${runId}:${i}` })),
    );

    // The ledger holds each row once; each row is delivered with the dbId Xledger gave it.
    expect([...fake.items.keys()].sort()).toEqual(references(runId, 501).sort());
    const rows = await rowsOf(config, runId);
    expect(rows).toEqual(
      records.map((record, i) => ({
        index: i,
        claim_id: record.claim_id,
        status: 'delivered',
        external_id: String(fake.items.get(`meander:${runId}:${i}`)?.dbId),
        error: null,
      })),
    );
    expect(brief(await syncRuns(config.id))).toEqual([{ status: 'success', records_pushed: 501, error: null }]);
    expect((await call('GET', config.path, config.token)).body).toMatchObject({ last_sync_status: 'success', last_sync_error: null });
  });

  it("Xledger: a burst-limit answer (HTTP 200, BAD_REQUEST.BURST_RATE_LIMIT_REACHED) is retried after Xledger's wait, then delivered", async () => {
    const { fake, apiKey } = await xledgerFake();
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), XLEDGER_MAPPINGS);
    fake.throttleNext('BAD_REQUEST.BURST_RATE_LIMIT_REACHED', 1);
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    const run = await waitForRun(config, runId, (r) => TERMINAL.includes(r.status), 40_000);
    expect(run).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 3, failed_count: 0 } });
    expect(fake.requests.map((r) => r.operation)).toEqual(['addGLImportItems', 'addGLImportItems']);
    const attempts = await syncRuns(config.id);
    expect(brief(attempts)).toEqual([
      { status: 'failed', records_pushed: 0, error: 'BAD_REQUEST.BURST_RATE_LIMIT_REACHED' },
      { status: 'success', records_pushed: 3, error: null },
    ]);
    // Xledger's own wait (its sample: 5 s), counted from the first attempt's start, before the wait was set; the 200 ms
    // backoff (plus the queue's 2 s polling) would come back sooner.
    expect(attempts[1].started_at.getTime() - attempts[0].started_at.getTime()).toBeGreaterThanOrEqual(5_000);
    expect([...fake.items.keys()].sort()).toEqual(references(runId, 3).sort());
  });

  it('Xledger: a throttled answer that shows some items created (edges beside the error) keeps them: only the others go again', async () => {
    const { fake, apiKey } = await xledgerFake();
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), XLEDGER_MAPPINGS);
    fake.throttleNext('BAD_REQUEST.BURST_RATE_LIMIT_REACHED', 1, undefined, { afterItems: 2 });
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    const run = await waitForRun(config, runId, (r) => TERMINAL.includes(r.status), 40_000);
    expect(run).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 3, failed_count: 0 } });
    // The retry sends the third row alone: the first two were created by the throttled request and kept.
    expect(fake.requests.map((r) => inputsOf(r).map((input) => input.node.extIdentifier))).toEqual([references(runId, 3), [`meander:${runId}:2`]]);
    expect([...fake.items.keys()].sort()).toEqual(references(runId, 3).sort());
    expect((await rowsOf(config, runId)).map((r) => [r.status, r.external_id])).toEqual(
      references(runId, 3).map((reference) => ['delivered', String(fake.items.get(reference)?.dbId)]),
    );
    expect(brief(await syncRuns(config.id))).toEqual([
      { status: 'partial', records_pushed: 2, error: 'BAD_REQUEST.BURST_RATE_LIMIT_REACHED' },
      { status: 'success', records_pushed: 1, error: null },
    ]);
  });

  it("Xledger: refused items are failed with Xledger's message (token scrubbed), the others delivered: partially_delivered", async () => {
    const { fake, apiKey } = await xledgerFake();
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), XLEDGER_MAPPINGS);
    // Refused two ways: the whole request for item 1 (as graphql-dotnet reports a bad variable), item 3 alone.
    fake.refuseItems((node) => node.text === 'Claim 1', `Account 4001 is closed (token ${apiKey})`);
    fake.refuseItems((node) => node.text === 'Claim 3', `Posting period 2026-11 is locked for ${apiKey}`, { partial: true });
    const runId = await deliver(config, [claim(0), claim(1), claim(2), claim(3)]);

    const run = await waitForRun(config, runId);
    expect(run).toMatchObject({ status: 'partially_delivered', delivery: { attempts: 1, delivered_count: 2, failed_count: 2 } });
    const rows = await rowsOf(config, runId);
    expect(rows.map((r) => [r.index, r.status])).toEqual([
      [0, 'delivered'],
      [1, 'failed'],
      [2, 'delivered'],
      [3, 'failed'],
    ]);
    expect(rows[0].external_id).toBe(String(fake.items.get(`meander:${runId}:0`)?.dbId));
    expect(rows[1]).toMatchObject({ external_id: null, error: expect.stringContaining('Account 4001 is closed') });
    expect(rows[3]).toMatchObject({ external_id: null, error: expect.stringContaining('Posting period 2026-11 is locked') });
    for (const row of [rows[1], rows[3]]) {
      expect(row.error).not.toContain(apiKey);
      expect(row.error).toContain('[redacted]');
    }
    // The refused items were never created; the first request was refused whole, so the rest went again without item 1.
    expect([...fake.items.keys()].sort()).toEqual([`meander:${runId}:0`, `meander:${runId}:2`]);
    expect(fake.requests.map((r) => inputsOf(r).map((input) => input.node.extIdentifier))).toEqual([references(runId, 4), [0, 2, 3].map((i) => `meander:${runId}:${i}`)]);
    expect(brief(await syncRuns(config.id))).toEqual([{ status: 'partial', records_pushed: 2, error: '2 rows refused by the external system' }]);
  });

  it("Xledger: a row without an account code (the new user's config: the mapping not required) is warned in the preview with the very error delivery then stores", async () => {
    const { fake, apiKey } = await xledgerFake();
    const mappings = XLEDGER_MAPPINGS.map((m) => (m.target_field === 'AccountCode' ? { source_field: 'accounting_code', target_field: 'AccountCode' } : m));
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), mappings);
    // `meal` has no accounting code in the config: AccountCode null.
    const records = [claim(0), claim(1, { expense_type: 'meal' }), claim(2)];

    const preview = await call('POST', `${config.exports}/preview`, config.token, { records });
    expect(preview.status).toBe(200);
    expect(preview.body.rows.map((row: any) => row.output.AccountCode)).toEqual(['4001', null, '4001']);
    expect(preview.body.warnings).toEqual(['delivery_would_refuse:1:AccountCode null is not an account code']);
    expect(fake.requests).toHaveLength(0);

    const runId = await deliver(config, records);
    const run = await waitForRun(config, runId);
    expect(run).toMatchObject({ status: 'partially_delivered', warnings: preview.body.warnings, delivery: { delivered_count: 2, failed_count: 1 } });
    const rows = await rowsOf(config, runId);
    expect(rows.map((row) => row.status)).toEqual(['delivered', 'failed', 'delivered']);
    // The preview's message is the row's stored error, word for word.
    expect(`delivery_would_refuse:1:${rows[1].error}`).toBe(preview.body.warnings[0]);
    expect(fake.requests.flatMap((r) => inputsOf(r).map((input) => input.node.extIdentifier))).toEqual([`meander:${runId}:0`, `meander:${runId}:2`]);
  });

  it('Xledger: a lost answer (carried out, connection cut) is retried with the same extIdentifiers: the ledger has each row once', async () => {
    const { fake, apiKey } = await xledgerFake();
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), XLEDGER_MAPPINGS);
    fake.loseAnswerNext(1);
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    const run = await waitForRun(config, runId);
    expect(run).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 3, failed_count: 0 } });
    expect(fake.requests.map((r) => r.answer)).toEqual(['lost', 200]);
    const sent = fake.requests.map((r) => inputsOf(r).map((input) => input.node.extIdentifier));
    expect(sent).toEqual([references(runId, 3), references(runId, 3)]);
    // Created once, by the lost request: the retry got the same items back.
    expect([...fake.items.keys()].sort()).toEqual(references(runId, 3).sort());
    const rows = await rowsOf(config, runId);
    expect(rows.map((r) => r.external_id)).toEqual([0, 1, 2].map((i) => String(fake.items.get(`meander:${runId}:${i}`)?.dbId)));
    expect(new Set(rows.map((r) => r.external_id)).size).toBe(3);
    const attempts = brief(await syncRuns(config.id));
    expect(attempts.map((a) => a.status)).toEqual(['failed', 'success']);
    expect(attempts[0].error).toEqual(expect.any(String));
  });

  it('Xledger: a refused token fails every attempt with credentials_rejected, retried until out of attempts', async () => {
    const { fake, apiKey } = await xledgerFake();
    const config = await createConfig(await organization(), xledgerConfig(fake, apiKey), XLEDGER_MAPPINGS);
    fake.rejectAuth(true);
    const runId = await deliver(config, [claim(0)]);

    const run = await waitForRun(config, runId, (r) => TERMINAL.includes(r.status), 45_000);
    expect(run).toMatchObject({ status: 'failed', delivery: { attempts: 4, delivered_count: 0, next_attempt_at: null, last_error: 'credentials_rejected' } });
    expect(fake.requests.map((r) => [r.headers.authorization, r.answer])).toEqual(Array.from({ length: 4 }, () => [`token ${apiKey}`, 401]));
    expect(fake.items.size).toBe(0);
    expect(brief(await syncRuns(config.id))).toEqual(Array.from({ length: 4 }, () => ({ status: 'failed', records_pushed: 0, error: 'credentials_rejected' })));
    expect((await call('GET', config.path, config.token)).body).toMatchObject({ last_sync_status: 'failed', last_sync_error: 'credentials_rejected' });
    expect((await rowsOf(config, runId)).map((r) => r.status)).toEqual(['pending']);
  });

  // --- Dynamics 365 / Dataverse ---

  it('Dataverse (dynamics): one token for two batches and two runs; upserts by alternate key land once each; a refused row is failed with the OData message', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    const records = Array.from({ length: 201 }, (_, i) => claim(i));
    const first = await deliver(config, records);

    expect(await waitForRun(config, first)).toMatchObject({ status: 'delivered', delivery: { attempts: 1, delivered_count: 201, failed_count: 0 } });
    const [tokenRequest, ...moreTokens] = tokensSince(mark);
    expect(moreTokens).toEqual([]);
    expect(tokenRequest).toMatchObject({ method: 'POST', path: `/${TENANT}/oauth2/v2.0/token`, answer: 200 });
    expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      scope: `${dv.url}/.default`,
    });
    // 201 rows: three $batch requests of at most 100 (100 + 100 + 1), each an upsert PATCH by the alternate key, continue-on-error.
    const batches = batchesSince(mark);
    expect(batches.map((b) => [b.method, b.answer, b.headers.prefer])).toEqual(Array.from({ length: 3 }, () => ['POST', 200, 'odata.continue-on-error']));
    expect(batches.flatMap(upsertsOf)).toEqual(keys(first, 201).map((ref) => `PATCH ${dv.url}/api/data/v9.2/${DYNAMICS_SET}(${DYNAMICS_KEY}='${ref}')`));
    expect(batches.map(upsertsOf).map((upserts) => upserts.length)).toEqual([100, 100, 1]);
    const token = bearerOf(batches[0]);
    expect(token).toEqual(expect.any(String));
    expect(batches.map(bearerOf)).toEqual([token, token, token]);

    const stored = recordsOf(DYNAMICS_SET, first);
    expect(stored.map((r) => r.key).sort()).toEqual(keys(first, 201).sort());
    expect(stored.every((r) => r.writes === 1)).toBe(true);
    expect(stored.find((r) => r.key === `meander_${first}_7`)?.values).toEqual({
      [DYNAMICS_KEY]: `meander_${first}_7`,
      msdyn_amount: 107.25,
      msdyn_transactiondate: '2026-11-20',
      _msdyn_contactid_value: MENTOR,
      msdyn_description: 'Claim 7',
    });
    const rows = await rowsOf(config, first);
    expect(rows).toHaveLength(201);
    expect(rows.filter((r) => r.status !== 'delivered')).toEqual([]);
    expect(rows.slice(0, 2).map((r) => r.external_id)).toEqual([0, 1].map((i) => `${DYNAMICS_KEY}='meander_${first}_${i}'`));
    expect(brief(await syncRuns(config.id))).toEqual([{ status: 'success', records_pushed: 201, error: null }]);

    // A second run reuses the cached token; Dataverse refuses one of its rows (quoting what it was sent).
    dv.refuseRows((u) => u.body.msdyn_description === 'Claim 1', `The contact is inactive. Request by ${CLIENT_ID} with secret ${CLIENT_SECRET} and token ${token}`, {
      code: '0x80040217',
    });
    try {
      const second = await deliver(config, [claim(0), claim(1)]);
      expect(await waitForRun(config, second)).toMatchObject({ status: 'partially_delivered', delivery: { attempts: 1, delivered_count: 1, failed_count: 1 } });
      const [delivered, refused] = await rowsOf(config, second);
      expect(delivered).toMatchObject({ status: 'delivered', external_id: `${DYNAMICS_KEY}='meander_${second}_0'`, error: null });
      expect(refused).toMatchObject({ status: 'failed', external_id: null, error: expect.stringContaining('The contact is inactive.') });
      expect(refused.error).not.toContain(CLIENT_SECRET);
      expect(recordsOf(DYNAMICS_SET, second).map((r) => r.key)).toEqual([`meander_${second}_0`]);
      expect(tokensSince(mark)).toHaveLength(1);
      expect(batchesSince(mark).map(bearerOf)).toEqual([token, token, token, token]);
      expect(brief(await syncRuns(config.id))).toEqual([
        { status: 'success', records_pushed: 201, error: null },
        { status: 'partial', records_pushed: 1, error: '1 row refused by the external system' },
      ]);
      // Last, so the checks above run whatever it finds. An upstream's words are scrubbed of every credential, the access
      // token included (the Xledger connector scrubs its token the same way).
      expect(refused.error).not.toContain(token);
    } finally {
      dv.refuseRows(() => false, 'unused');
    }
  });

  it('Dataverse (dynamics): a ContactId that is no GUID is warned in the preview with the very error delivery then stores, sending nothing for it', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const records = [claim(0), claim(1, { peer_mentor_id: 'Kari Nordmann' })];
    const preview = await call('POST', `${config.exports}/preview`, config.token, { records });
    expect(preview.status).toBe(200);
    expect(preview.body.warnings).toEqual(['delivery_would_refuse:1:ContactId must be the id (GUID) of a Dataverse contact']);

    const runId = await deliver(config, records);
    expect(await waitForRun(config, runId)).toMatchObject({ status: 'partially_delivered', warnings: preview.body.warnings });
    const rows = await rowsOf(config, runId);
    expect(rows.map((row) => row.status)).toEqual(['delivered', 'failed']);
    expect(`delivery_would_refuse:1:${rows[1].error}`).toBe(preview.body.warnings[0]);
    expect(recordsOf(DYNAMICS_SET, runId).map((r) => r.key)).toEqual(keys(runId, 1));
  });

  it('Dataverse (dynamics): 429 + Retry-After on the batch is retried after the wait, then delivered', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    dv.throttleNext(1, 4);
    const runId = await deliver(config, [claim(0), claim(1)]);

    expect(await waitForRun(config, runId)).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 2 } });
    expect(batchesSince(mark).map((b) => b.answer)).toEqual([429, 200]);
    const attempts = await syncRuns(config.id);
    expect(attempts.map((a) => a.status)).toEqual(['failed', 'success']);
    expect(attempts[0].error).toContain('429');
    // Retry-After: 4 s from the first attempt's start at least; the 200 ms backoff (plus the queue's 2 s polling) would come back sooner.
    expect(attempts[1].started_at.getTime() - attempts[0].started_at.getTime()).toBeGreaterThanOrEqual(4_000);
    expect(recordsOf(DYNAMICS_SET, runId).map((r) => [r.key, r.writes])).toEqual(keys(runId, 2).map((ref) => [ref, 1]));
  });

  it('Dataverse (dynamics): one upsert of a $batch throttled (429 inside it): the others are delivered once, the throttled row alone on the retry after Retry-After', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    dv.throttleNext(1, 3, { inBatch: true, parts: (upsert) => upsert.body.msdyn_description === 'Claim 1' });
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    expect(await waitForRun(config, runId)).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 3, failed_count: 0 } });
    const [ref0, ref1, ref2] = keys(runId, 3).map((ref) => `PATCH ${dv.url}/api/data/v9.2/${DYNAMICS_SET}(${DYNAMICS_KEY}='${ref}')`);
    const batches = batchesSince(mark);
    expect(batches.map((b) => b.answer)).toEqual([200, 200]);
    // The retry sends the throttled row only: the others' outcomes were kept from the first answer.
    expect(batches.map(upsertsOf)).toEqual([[ref0, ref1, ref2], [ref1]]);
    // Each row's upsert applied exactly once across both attempts.
    expect(recordsOf(DYNAMICS_SET, runId).map((r) => [r.key, r.writes])).toEqual([0, 2, 1].map((i) => [`meander_${runId}_${i}`, 1]));
    expect((await rowsOf(config, runId)).map((r) => [r.status, r.external_id, r.error])).toEqual(keys(runId, 3).map((ref) => ['delivered', `${DYNAMICS_KEY}='${ref}'`, null]));
    const attempts = await syncRuns(config.id);
    expect(brief(attempts).map((a) => [a.status, a.records_pushed])).toEqual([
      ['partial', 2],
      ['success', 1],
    ]);
    expect(attempts[0].error).toContain('429');
    // Retry-After: 3 s from the first attempt's start at least; the 200 ms backoff (plus the queue's 2 s polling) would come back sooner.
    expect(attempts[1].started_at.getTime() - attempts[0].started_at.getTime()).toBeGreaterThanOrEqual(3_000);
  });

  it('Dataverse (dynamics): two upserts of a $batch throttled with different Retry-After values: the retry waits for the longer', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    const waits: Record<string, number> = { 'Claim 1': 1, 'Claim 2': 5 };
    dv.throttleNext(1, 1, {
      inBatch: true,
      parts: (upsert) => String(upsert.body.msdyn_description) in waits,
      retryAfterOf: (upsert) => waits[String(upsert.body.msdyn_description)],
    });
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    expect(await waitForRun(config, runId)).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 3, failed_count: 0 } });
    const [ref0, ref1, ref2] = keys(runId, 3).map((ref) => `PATCH ${dv.url}/api/data/v9.2/${DYNAMICS_SET}(${DYNAMICS_KEY}='${ref}')`);
    expect(batchesSince(mark).map(upsertsOf)).toEqual([
      [ref0, ref1, ref2],
      [ref1, ref2],
    ]);
    const attempts = await syncRuns(config.id);
    // The first throttled part said 1 s, the second 5 s: 5 s from the first attempt's start at least (1 s, the 200 ms
    // backoff and the queue's 2 s polling would come back sooner).
    expect(attempts[1].started_at.getTime() - attempts[0].started_at.getTime()).toBeGreaterThanOrEqual(5_000);
  });

  it('Dataverse (dynamics): a mistyped extra_config.entity_set (404 on every part) fails each attempt as a whole, naming it, the rows pending; corrected, they are delivered', async () => {
    const wrong = { entity_set: 'msdyn_expense', alternate_key: DYNAMICS_KEY, columns: DYNAMICS_COLUMNS };
    const config = await createConfig(await organization(), dynamicsConfig({ extra_config: wrong }), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    const runId = await deliver(config, [claim(0), claim(1)]);

    const [first] = await waitFor(
      () => syncRuns(config.id),
      (runs) => runs.length > 0,
      30_000,
    );
    // Corrected at once: the retry (at least the 200 ms backoff and the queue's polling away) goes to the right table.
    const patched = await call('PATCH', config.path, config.token, { extra_config: { ...wrong, entity_set: DYNAMICS_SET } }, { 'if-match': await etagOf(config) });
    expect(patched.status).toBe(200);
    expect(brief([first])).toEqual([
      {
        status: 'failed',
        records_pushed: 0,
        error:
          "extra_config.entity_set 'msdyn_expense' is not an entity set of this Dataverse environment (names are case-sensitive); " +
          "Dataverse answered HTTP 404 for all 2 requests of the batch: 0x8006088a Resource not found for the segment 'msdyn_expense'.",
      },
    ]);
    // Dataverse answered the batch 200, a 404 part per upsert; no row was failed for it.
    const [firstBatch] = batchesSince(mark);
    expect(firstBatch.answer).toBe(200);
    expect(upsertsOf(firstBatch)).toEqual(keys(runId, 2).map((ref) => `PATCH ${dv.url}/api/data/v9.2/msdyn_expense(${DYNAMICS_KEY}='${ref}')`));

    const run = await waitForRun(config, runId);
    expect(run).toMatchObject({ status: 'delivered', delivery: { delivered_count: 2, failed_count: 0 } });
    expect(run.delivery.attempts).toBeGreaterThanOrEqual(2);
    expect((await rowsOf(config, runId)).map((r) => [r.status, r.external_id, r.error])).toEqual(keys(runId, 2).map((ref) => ['delivered', `${DYNAMICS_KEY}='${ref}'`, null]));
    expect(recordsOf(DYNAMICS_SET, runId).map((r) => [r.key, r.writes])).toEqual(keys(runId, 2).map((ref) => [ref, 1]));
    const attempts = brief(await syncRuns(config.id));
    expect(attempts.at(-1)).toEqual({ status: 'success', records_pushed: 2, error: null });
    for (const attempt of attempts.slice(0, -1))
      expect(attempt).toMatchObject({ status: 'failed', records_pushed: 0, error: expect.stringContaining("extra_config.entity_set 'msdyn_expense'") });
  });

  it('Dataverse (dynamics): a mistyped extra_config.alternate_key (400 on every part) fails the attempt as a whole, naming it; the rows stay pending', async () => {
    const config = await createConfig(
      await organization(),
      dynamicsConfig({ extra_config: { entity_set: DYNAMICS_SET, alternate_key: 'meander_ref', columns: DYNAMICS_COLUMNS } }),
      DYNAMICS_MAPPINGS,
    );
    const runId = await deliver(config, [claim(0), claim(1)]);
    const [first] = await waitFor(
      () => syncRuns(config.id),
      (runs) => runs.length > 0,
      30_000,
    );
    await setEnabled(config, false);
    expect(first).toMatchObject({ status: 'failed', records_pushed: 0 });
    expect(first.error).toBe(
      "extra_config.alternate_key 'meander_ref' is not an alternate key of msdyn_expenses; Dataverse answered HTTP 400 for all 2 requests of the batch: 0x80060888 " +
        `The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.${DYNAMICS_TABLE.logicalName}'. Ensure that the names and number of key properties ` +
        `match the declared or alternate key properties for the resource 'Microsoft.Dynamics.CRM.${DYNAMICS_TABLE.logicalName}'.`,
    );
    expect((await rowsOf(config, runId)).map((r) => [r.status, r.error])).toEqual([
      ['pending', null],
      ['pending', null],
    ]);
    expect((await call('GET', `${config.exports}/${runId}`, config.token)).body).toMatchObject({ status: 'queued', delivery: { failed_count: 0 } });
    expect(recordsOf(DYNAMICS_SET, runId)).toEqual([]);
  });

  it('Dataverse (dynamics): a lost answer is retried; the upserts repeat by alternate key, so no record is created twice', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    const createdBefore = dv.createdCount;
    dv.loseAnswerNext(1);
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    expect(await waitForRun(config, runId)).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 3, failed_count: 0 } });
    const batches = batchesSince(mark);
    expect(batches.map((b) => b.answer)).toEqual(['lost', 200]);
    expect(upsertsOf(batches[1])).toEqual(upsertsOf(batches[0]));
    // Applied twice, created once.
    expect(recordsOf(DYNAMICS_SET, runId).map((r) => [r.key, r.writes])).toEqual(keys(runId, 3).map((ref) => [ref, 2]));
    expect(dv.createdCount - createdBefore).toBe(3);
    expect((await syncRuns(config.id)).map((a) => a.status)).toEqual(['failed', 'success']);
  });

  it("Dataverse (dynamics): a column the entity does not declare (extra_config.columns renames ExpenseAmount to it) fails each row with Dataverse's payload error", async () => {
    const columns = { ...DYNAMICS_COLUMNS, ExpenseAmount: 'msdyn_expenseamount' };
    const config = await createConfig(
      await organization(),
      dynamicsConfig({ extra_config: { entity_set: DYNAMICS_SET, alternate_key: DYNAMICS_KEY, columns } }),
      DYNAMICS_MAPPINGS,
    );
    const mark = dv.requests.length;
    const runId = await deliver(config, [claim(0), claim(1)]);

    expect(await waitForRun(config, runId)).toMatchObject({ status: 'failed', delivery: { attempts: 1, delivered_count: 0, failed_count: 2 } });
    // Sent once, answered 200 with a refused part per row: a refusal of the payload is the row's, never retried.
    expect(batchesSince(mark).map((b) => b.answer)).toEqual([200]);
    const rows = await rowsOf(config, runId);
    expect(rows.map((r) => [r.status, r.external_id])).toEqual([
      ['failed', null],
      ['failed', null],
    ]);
    for (const row of rows) {
      expect(row.error).toContain(`Error identified in Payload provided by the user for Entity :'${DYNAMICS_SET}'`);
      expect(row.error).toContain(`Invalid property 'msdyn_expenseamount' was found in entity 'Microsoft.Dynamics.CRM.${DYNAMICS_TABLE.logicalName}'`);
    }
    expect(recordsOf(DYNAMICS_SET, runId)).toEqual([]);
    expect(brief(await syncRuns(config.id))).toEqual([{ status: 'failed', records_pushed: 0, error: '2 rows refused by the external system' }]);
  });

  it('Dataverse (dynamics): credentials the token endpoint refuses fail each attempt with credentials_rejected; a revoked token is dropped and a new one fetched', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const mark = dv.requests.length;
    dv.rejectCredentials(true);
    try {
      const refusedRun = await deliver(config, [claim(0)]);
      const run = await waitForRun(config, refusedRun, (r) => TERMINAL.includes(r.status), 45_000);
      expect(run).toMatchObject({ status: 'failed', delivery: { attempts: 4, delivered_count: 0, last_error: 'credentials_rejected' } });
    } finally {
      dv.rejectCredentials(false);
    }
    // Four token requests, all refused; not one API request without a token.
    expect(tokensSince(mark).map((r) => r.answer)).toEqual([401, 401, 401, 401]);
    expect(dv.requests.slice(mark).filter((r) => r.kind === 'api')).toEqual([]);
    expect(brief(await syncRuns(config.id))).toEqual(Array.from({ length: 4 }, () => ({ status: 'failed', records_pushed: 0, error: 'credentials_rejected' })));
    expect((await call('GET', config.path, config.token)).body).toMatchObject({ last_sync_status: 'failed', last_sync_error: 'credentials_rejected' });

    // Accepted again: a token; then revoked under the cached token: the batch's 401 costs one new
    // token and the batch again, in the same attempt (no credentials_rejected for a revoked token).
    const ok = await deliver(config, [claim(0)]);
    expect(await waitForRun(config, ok)).toMatchObject({ status: 'delivered' });
    const revokedMark = dv.requests.length;
    dv.revokeTokens();
    const afterRevoke = await deliver(config, [claim(0)]);
    expect(await waitForRun(config, afterRevoke)).toMatchObject({ status: 'delivered', delivery: { attempts: 1, delivered_count: 1 } });
    const since = dv.requests.slice(revokedMark);
    expect(since.map((r) => [r.kind, r.answer])).toEqual([
      ['api', 401],
      ['token', 200],
      ['api', 200],
    ]);
    expect(bearerOf(since[2])).not.toBe(bearerOf(since[0]));
    expect(brief((await syncRuns(config.id)).slice(5))).toEqual([{ status: 'success', records_pushed: 1, error: null }]);
  });

  it('hlf_portal: delivers the same way, the token from extra_config.tenant_id', async () => {
    const config = await createConfig(await organization(), hlfConfig(), HLF_MAPPINGS);
    const mark = dv.requests.length;
    const runId = await deliver(config, [claim(0), claim(1), claim(2)]);

    expect(await waitForRun(config, runId)).toMatchObject({ status: 'delivered', delivery: { attempts: 1, delivered_count: 3, failed_count: 0 } });
    const tokens = tokensSince(mark);
    expect(tokens.map((r) => [r.path, r.answer])).toEqual([[`/${TENANT}/oauth2/v2.0/token`, 200]]);
    expect(Object.fromEntries(new URLSearchParams(tokens[0].body))).toEqual({
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      scope: `${dv.url}/.default`,
    });
    const batches = batchesSince(mark);
    expect(batches.map(upsertsOf)).toEqual([keys(runId, 3).map((ref) => `PATCH ${dv.url}/api/data/v9.2/${HLF_SET}(${HLF_KEY}='${ref}')`)]);
    expect(recordsOf(HLF_SET, runId).map((r) => [r.key, r.writes, r.values])).toEqual(
      keys(runId, 3).map((ref) => [ref, 1, { [HLF_KEY]: ref, ActivityDate: '2026-11-19', PeerMentorId: MENTOR }]),
    );
    expect((await rowsOf(config, runId)).map((r) => [r.status, r.external_id])).toEqual(keys(runId, 3).map((ref) => ['delivered', `${HLF_KEY}='${ref}'`]));
    expect(brief(await syncRuns(config.id))).toEqual([{ status: 'success', records_pushed: 3, error: null }]);
  });

  // --- disabled_integration_must_not_sync ---

  it('a disabled config: not one request reaches either system (token endpoint included) while its runs wait; enabled again and synced, they are delivered', async () => {
    const { fake, apiKey } = await xledgerFake();
    const owner = await organization();
    const xledger = await createConfig(owner, xledgerConfig(fake, apiKey, { sync_frequency: 'manual' }), XLEDGER_MAPPINGS);
    const dynamics = await createConfig(owner, dynamicsConfig({ sync_frequency: 'manual' }), DYNAMICS_MAPPINGS);
    // A realtime config whose retry is due while it is disabled: the engine does look at it, and must send nothing.
    const retrying = await xledgerFake();
    const realtime = await createConfig(await organization(), xledgerConfig(retrying.fake, retrying.apiKey), XLEDGER_MAPPINGS);
    retrying.fake.failNext(503, 1, { 'retry-after': '1' });
    // Its first answer waits until every config is disabled: the retry a second later then always finds it disabled.
    const firstAnswer = retrying.fake.holdNext();

    const dvMark = dv.requests.length;
    const xledgerRun = await deliver(xledger, [claim(0), claim(1)]);
    const dynamicsRun = await deliver(dynamics, [claim(0), claim(1)]);
    const realtimeRun = await deliver(realtime, [claim(0)]);
    await waitFor(
      async () => retrying.fake.requests.length,
      (sent) => sent === 1,
      30_000,
    );
    for (const config of [realtime, xledger, dynamics]) await setEnabled(config, false);
    firstAnswer.release();
    const firstAttempt = await waitFor(
      () => syncRuns(realtime.id),
      (runs) => runs.length > 0,
      30_000,
    );
    expect(brief(firstAttempt).map((a) => a.status)).toEqual(['failed']);
    for (const config of [xledger, dynamics]) {
      const sync = await call('POST', `${config.path}/sync`, config.token, {});
      expect({ status: sync.status, code: sync.body?.code }).toEqual({ status: 409, code: 'disabled_integration_must_not_sync' });
    }

    // A few seconds, and until the realtime config's retry job has been worked.
    const windowStart = Date.now();
    // The retry job must have been worked (and sent nothing), not merely waited out.
    const pendingJobs = await waitFor(
      async () =>
        Number(
          (await db.query(`SELECT count(*) FROM pgboss.job WHERE name = 'meander-deliveries' AND singleton_key = $1 AND state IN ('created', 'retry', 'active')`, [realtime.id]))
            .rows[0].count,
        ),
      (pending) => pending === 0,
      10_000,
    );
    expect(pendingJobs).toBe(0);
    await sleep(Math.max(0, 3_000 - (Date.now() - windowStart)));
    expect(fake.requests).toEqual([]);
    expect(dv.requests.slice(dvMark)).toEqual([]);
    expect(retrying.fake.requests.map((r) => r.answer)).toEqual([503]);
    for (const [config, runId] of [
      [xledger, xledgerRun],
      [dynamics, dynamicsRun],
      [realtime, realtimeRun],
    ] as const) {
      expect((await call('GET', `${config.exports}/${runId}`, config.token)).body.status).toBe('queued');
    }
    expect(await syncRuns(xledger.id)).toEqual([]);
    expect(await syncRuns(dynamics.id)).toEqual([]);
    expect(await syncRuns(realtime.id)).toHaveLength(1);

    // Enabled again: the manual ones on POST /sync, the realtime one at once.
    for (const config of [xledger, dynamics, realtime]) await setEnabled(config, true);
    for (const config of [xledger, dynamics]) {
      const sync = await call('POST', `${config.path}/sync`, config.token, {});
      expect({ status: sync.status, body: sync.body }).toEqual({ status: 202, body: { queued_runs: 1 } });
    }
    expect(await waitForRun(xledger, xledgerRun)).toMatchObject({ status: 'delivered', delivery: { delivered_count: 2 } });
    expect(await waitForRun(dynamics, dynamicsRun)).toMatchObject({ status: 'delivered', delivery: { delivered_count: 2 } });
    expect(await waitForRun(realtime, realtimeRun)).toMatchObject({ status: 'delivered', delivery: { attempts: 2, delivered_count: 1 } });
    expect(fake.requests.map((r) => r.operation)).toEqual(['addGLImportItems']);
    expect(dv.requests.slice(dvMark).map((r) => r.kind)).toEqual(['token', 'api']);
    expect(recordsOf(DYNAMICS_SET, dynamicsRun)).toHaveLength(2);
  });

  // --- connection test ---

  it('POST …/connection-test: ok with latency for each vendor, ok: false without a secret for wrong credentials; allowed while disabled, sends no claim data', async () => {
    const owner = await organization();
    const { fake, apiKey } = await xledgerFake();
    const xledger = await createConfig(owner, xledgerConfig(fake, apiKey, { enabled: false }), XLEDGER_MAPPINGS);
    const dynamics = await createConfig(owner, dynamicsConfig({ enabled: false }), DYNAMICS_MAPPINGS);
    const wrongKey = `xl-${randomBytes(24).toString('base64url')}`;
    xledgerFakes.find((f) => f.fake === fake)?.keys.push(wrongKey);
    secrets.add(wrongKey);
    const wrongHlf = await createConfig(owner, hlfConfig({ enabled: false, client_secret: WRONG_CLIENT_SECRET }), HLF_MAPPINGS);
    const test = (config: Config) => call('POST', `${config.path}/connection-test`, config.token, {});

    // Xledger: the read-only probe with the token; no mutation, no variables.
    const xOk = await test(xledger);
    expect({ status: xOk.status, ok: xOk.body.ok, error: xOk.body.error }).toEqual({ status: 200, ok: true, error: null });
    expect(Number.isInteger(xOk.body.latency_ms) && xOk.body.latency_ms >= 0).toBe(true);
    expect(fake.requests.map((r) => [r.operation, r.headers.authorization, r.answer])).toEqual([['connectionTest', `token ${apiKey}`, 200]]);
    expect(fake.requests[0].body?.variables ?? {}).toEqual({});

    const patched = await call('PATCH', xledger.path, xledger.token, { api_key: wrongKey }, { 'if-match': await etagOf(xledger) });
    expect(patched.status).toBe(200);
    const xBad = await test(xledger);
    expect({ status: xBad.status, ok: xBad.body.ok }).toEqual({ status: 200, ok: false });
    expect(xBad.body.error).toEqual(expect.any(String));
    expect(xBad.body.error.length).toBeGreaterThan(0);
    expect(fake.requests.slice(1).map((r) => [r.headers.authorization, r.answer])).toEqual([[`token ${wrongKey}`, 401]]);

    // Dataverse: a token, then one read of the config's table with it (one record at most, the key column only).
    const mark = dv.requests.length;
    const dOk = await test(dynamics);
    expect({ status: dOk.status, ok: dOk.body.ok, error: dOk.body.error }).toEqual({ status: 200, ok: true, error: null });
    expect(Number.isInteger(dOk.body.latency_ms) && dOk.body.latency_ms >= 0).toBe(true);
    expect(dv.requests.slice(mark).map((r) => [r.kind, r.method, r.path, r.answer])).toEqual([
      ['token', 'POST', `/${TENANT}/oauth2/v2.0/token`, 200],
      ['api', 'GET', `/api/data/v9.2/${DYNAMICS_SET}?$select=${DYNAMICS_KEY}&$top=1`, 200],
    ]);

    const badMark = dv.requests.length;
    const dBad = await test(wrongHlf);
    expect({ status: dBad.status, ok: dBad.body.ok }).toEqual({ status: 200, ok: false });
    expect(dBad.body.error).toEqual(expect.any(String));
    expect(dBad.body.error.length).toBeGreaterThan(0);
    expect(dv.requests.slice(badMark).map((r) => [r.kind, r.answer])).toEqual([['token', 401]]);

    for (const answer of [xOk, xBad, dOk, dBad]) {
      for (const secret of [apiKey, wrongKey, CLIENT_SECRET, WRONG_CLIENT_SECRET]) expect(JSON.stringify(answer.body)).not.toContain(secret);
    }
    // Still disabled, and a connection test is no sync attempt.
    for (const config of [xledger, dynamics, wrongHlf]) {
      expect((await call('GET', config.path, config.token)).body.enabled).toBe(false);
      expect(await syncRuns(config.id)).toEqual([]);
    }
  });

  it('POST …/connection-test (dynamics) authenticates anew: a secret refused since a delivery cached a token is ok: false, naming no secret', async () => {
    const config = await createConfig(await organization(), dynamicsConfig(), DYNAMICS_MAPPINGS);
    const runId = await deliver(config, [claim(0)]);
    expect(await waitForRun(config, runId)).toMatchObject({ status: 'delivered' });
    const test = () => call('POST', `${config.path}/connection-test`, config.token, {});

    // Revoked at Microsoft: the cached token would still pass WhoAmI until it expires.
    const mark = dv.requests.length;
    dv.rejectCredentials(true);
    let refused;
    try {
      refused = await test();
    } finally {
      dv.rejectCredentials(false);
    }
    expect({ status: refused.status, ok: refused.body.ok, error: refused.body.error }).toEqual({ status: 200, ok: false, error: 'credentials_rejected' });
    expect(dv.requests.slice(mark).map((r) => [r.kind, r.answer])).toEqual([['token', 401]]);
    for (const secret of [CLIENT_SECRET, WRONG_CLIENT_SECRET]) expect(JSON.stringify(refused.body)).not.toContain(secret);

    // Accepted again: a new token, then the read with it.
    const accepted = await test();
    expect({ status: accepted.status, ok: accepted.body.ok, error: accepted.body.error }).toEqual({ status: 200, ok: true, error: null });
    expect(dv.requests.slice(mark + 1).map((r) => [r.kind, r.path, r.answer])).toEqual([
      ['token', `/${TENANT}/oauth2/v2.0/token`, 200],
      ['api', `/api/data/v9.2/${DYNAMICS_SET}?$select=${DYNAMICS_KEY}&$top=1`, 200],
    ]);
  });

  it('POST …/connection-test says what a config lacks or misnames: an Xledger api_key (no request made), a Dataverse entity_set or alternate_key', async () => {
    const { fake } = await xledgerFake();
    const keyless = await createConfig(await organization(), xledgerConfig(fake, undefined, { enabled: false }), XLEDGER_MAPPINGS);
    const wrongSet = await createConfig(
      await organization(),
      dynamicsConfig({
        enabled: false,
        display_name: 'Dataverse (wrong entity set)',
        extra_config: { entity_set: 'msdyn_expense', alternate_key: DYNAMICS_KEY, columns: DYNAMICS_COLUMNS },
      }),
      DYNAMICS_MAPPINGS,
    );
    const wrongKey = await createConfig(
      await organization(),
      dynamicsConfig({
        enabled: false,
        display_name: 'Dataverse (wrong key)',
        extra_config: { entity_set: DYNAMICS_SET, alternate_key: 'meander_ref', columns: DYNAMICS_COLUMNS },
      }),
      DYNAMICS_MAPPINGS,
    );
    const test = async (config: Config) => {
      const res = await call('POST', `${config.path}/connection-test`, config.token, {});
      return { status: res.status, ok: res.body.ok, error: res.body.error };
    };

    // Not credentials_rejected: API.md keeps that for the vendor's refusal, and nothing was sent.
    expect(await test(keyless)).toEqual({ status: 200, ok: false, error: 'The xledger config has no api_key (its API token)' });
    expect(fake.requests).toEqual([]);

    const mark = dv.requests.length;
    expect(await test(wrongSet)).toEqual({
      status: 200,
      ok: false,
      error:
        "extra_config.entity_set 'msdyn_expense' is not an entity set of this Dataverse environment (names are case-sensitive); " +
        "Dataverse answered the read of msdyn_expense with HTTP 404: 0x8006088a Resource not found for the segment 'msdyn_expense'.",
    });
    expect(await test(wrongKey)).toEqual({
      status: 200,
      ok: false,
      error:
        "extra_config.alternate_key 'meander_ref' is not a column of msdyn_expenses; Dataverse answered the read of msdyn_expenses with HTTP 400: 0x0 " +
        `Could not find a property named 'meander_ref' on type 'Microsoft.Dynamics.CRM.${DYNAMICS_TABLE.logicalName}'.`,
    });
    expect(dv.requests.slice(mark).map((r) => [r.kind, r.method, r.answer])).toEqual([
      ['token', 'POST', 200],
      ['api', 'GET', 404],
      ['token', 'POST', 200],
      ['api', 'GET', 400],
    ]);
  });

  // --- secrets ---

  // The file's last test: it reads what every test above left (configs, stored errors, requests, log lines); run alone it has nothing to read.
  it('reports the requests it sent to each system at /metrics: exactly what the fakes recorded, token requests included', async () => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const text = await res.text();
    const sent = (type: string) => Number(new RegExp(`^meander_vendor_requests_total\\{integration_type="${type}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    const xledgerRecorded = xledgerFakes.reduce((n, { fake }) => n + fake.requests.length, 0);
    expect(xledgerRecorded).toBeGreaterThan(0);
    expect(sent('xledger')).toBe(xledgerRecorded);
    expect(sent('dynamics') + sent('hlf_portal')).toBe(dv.requests.length);
    expect(sent('hlf_portal')).toBeGreaterThan(0);
  });

  it('secrets stay secret: no api_key, client_secret or access token in any stored error, log line or answer; credentials reach the fakes only where they belong', async () => {
    // Stopped gracefully, so every buffered log line is out.
    service.child.kill('SIGTERM');
    await waitForExit(service.child);
    const stdout = service.stdout();

    const tokenAnswers = dv.tokenRequests.filter((r) => r.answer === 200).length;
    const tokens = new Set(dv.apiRequests.map(bearerOf).filter((t): t is string => t !== undefined));
    // Every token the fake issued was then used on an API request, so this is all of them.
    expect(tokens.size).toBe(tokenAnswers);
    expect(tokens.size).toBeGreaterThanOrEqual(5);
    const needles = [...secrets, ...tokens];
    // As written, URL- and form-encoded (a token request's body: '~' is %7E there), JSON-escaped, base64.
    const forms = (value: string) => [
      value,
      encodeURIComponent(value),
      new URLSearchParams({ v: value }).toString().slice(2),
      JSON.stringify(value).slice(1, -1),
      Buffer.from(value).toString('base64'),
    ];

    const stored: string[] = [];
    /** Adds the texts a query finds; answers how many. */
    const collect = async (sql: string) => {
      const texts = (await db.query(sql, [configIds])).rows.map((r) => r.text).filter((t): t is string => t !== null);
      stored.push(...texts);
      return texts.length;
    };
    await collect(`SELECT error AS text FROM sync_runs WHERE integration_id = ANY($1)`);
    await collect(`SELECT r.error AS text FROM export_run_rows r JOIN export_runs e ON e.id = r.export_run_id WHERE e.integration_id = ANY($1)`);
    await collect(`SELECT last_error AS text FROM export_runs WHERE integration_id = ANY($1)`);
    await collect(`SELECT last_sync_error AS text FROM integration_configs WHERE id = ANY($1)`);
    // The audit trail (connection tests, refusals, deliveries requested) and the job queue's rows (a job's data, a failed job's output).
    expect(await collect(`SELECT details::text || ' ' || array_to_string(changed_fields, ',') AS text FROM audit_events WHERE integration_id = ANY($1)`)).toBeGreaterThan(10);
    expect(await collect(`SELECT data::text || ' ' || coalesce(output::text, '') AS text FROM pgboss.job WHERE data->>'integrationId' = ANY($1::text[])`)).toBeGreaterThan(5);
    // Not vacuous: refusals quoting secrets, credential failures and retries were stored, and the service logged.
    expect(stored.filter((text) => text.includes('[redacted]')).length).toBeGreaterThanOrEqual(3);
    expect(stored.filter((text) => text === 'credentials_rejected').length).toBeGreaterThanOrEqual(8);
    expect(stdout).toContain('listening on port');
    for (const id of configIds.slice(0, 3)) expect(stdout).toContain(id);

    const leaks: string[] = [];
    const sources: [string, string[]][] = [
      ['stored error', stored],
      ['stdout', stdout.split('\n')],
      ['stderr', service.stderr().split('\n')],
      ['API answer', responses],
    ];
    for (const [source, texts] of sources) {
      for (const text of texts) {
        for (const needle of needles) if (forms(needle).some((form) => text.includes(form))) leaks.push(`${source}: ${text.slice(0, 300)}`);
      }
    }

    // On the wire: an API key only as `Authorization: token <key>`; the client secret only in the token request's form body; tokens only as the bearer.
    const outside = (value: unknown) => needles.filter((needle) => JSON.stringify(value).includes(needle));
    for (const { fake, keys } of xledgerFakes) {
      for (const request of fake.requests) {
        expect(keys.map((key) => `token ${key}`)).toContain(request.headers.authorization);
        expect(outside({ method: request.method, path: request.path, headers: { ...request.headers, authorization: undefined }, body: request.rawBody })).toEqual([]);
      }
    }
    for (const request of dv.requests) {
      const headers = { ...request.headers, authorization: undefined };
      if (request.kind === 'token') {
        const form = new URLSearchParams(request.body);
        expect([CLIENT_SECRET, WRONG_CLIENT_SECRET]).toContain(form.get('client_secret'));
        form.delete('client_secret');
        expect(request.headers.authorization).toBeUndefined();
        expect(outside({ path: request.path, headers, body: form.toString() })).toEqual([]);
      } else {
        expect(tokens.has(bearerOf(request) as string)).toBe(true);
        expect(outside({ path: request.path, headers, body: request.body })).toEqual([]);
      }
    }

    // Last, so the wire checks above run whatever it finds.
    expect(leaks).toEqual([]);
  });
});
