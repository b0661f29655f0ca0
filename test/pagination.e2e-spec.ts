import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { apiClient, expectProblem, expenseClaim, hlfPortalConfig, rulesOf, XLEDGER_EXPORT_MAPPINGS, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, TEST_ENCRYPTION_KEYS, type TestApp } from './support/test-app';

// The growing lists (sync runs, webhook events, export runs) page with opaque keyset cursors.
describe('paged lists (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  let lists: string[];
  let token: string;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
    const org = newOrgId();
    token = await t.token('org_admin', org);
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, hlfPortalConfig());
    expect(res.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${res.body.id}`;
    lists = [`${path}/sync-runs`, `${path}/webhook-events`, `${path}/exports`];
  });
  afterAll(() => t.close());

  it('refuses a cursor it did not issue, well-formed or not (400 cursor_must_be_valid)', async () => {
    const foreign = Buffer.from('offset:10').toString('base64url');
    for (const list of lists) {
      for (const cursor of [foreign, 'a*b', 'x'.repeat(129)]) {
        const res = await api.get(`${list}?cursor=${encodeURIComponent(cursor)}`, token);
        expectProblem(res, 400, 'validation_failed');
        expect(rulesOf(res)).toEqual(['cursor:cursor_must_be_valid']);
      }
    }
  });

  it('refuses a limit outside 1..200 (400 limit_within_bounds)', async () => {
    for (const list of lists) {
      // Only decimal digits: Number() would read hex, exponents, signs and padding as a limit.
      for (const limit of ['0', '201', '1.5', 'ten', '0x10', '1e2', '+5', '%205', '5.0', '', '1&limit=2']) {
        const res = await api.get(`${list}?limit=${limit}`, token);
        expectProblem(res, 400, 'validation_failed');
        expect(rulesOf(res)).toEqual(['limit:limit_within_bounds']);
      }
      expect((await api.get(`${list}?limit=200`, token)).body).toEqual({ items: [], next_cursor: null });
    }
  });
});

// Keyset pages over seq: rows written in one statement share their timestamps (created_at,
// occurred_at, received_at), and a walk still sees each once, in order, whatever is written or
// removed between its pages.
describe('walking every page (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  /** Every page of `list` at `limit`, `between` run after each page; the ids seen, in order. */
  async function walk(list: string, token: string, limit: number, between: (page: number, seen: string[]) => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; ; page++) {
      const res = await api.get(`${list}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, token);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      seen.push(...res.body.items.map((item: { id?: string; index?: number }) => item.id ?? String(item.index)));
      cursor = res.body.next_cursor;
      if (cursor === null) return seen;
      expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
      await between(page, seen);
    }
  }

  it('gives each sync run, export run, webhook event and audit event once, newest first, under ties, inserts and deletes', async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const created = await api.post(`/v1/organizations/${org}/integrations`, token, hlfPortalConfig());
    const config = created.body.id as string;
    const path = `/v1/organizations/${org}/integrations/${config}`;
    const sub = newOrgId();
    // Each list: its table, the statement writing n rows in one go (one now(): every timestamp equal), its route.
    const lists: { table: string; insert: string; route: string }[] = [
      {
        table: 'sync_runs',
        insert: `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by) SELECT $1, $2, 'success', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', '${sub}' FROM generate_series(1, $3::int)`,
        route: `${path}/sync-runs`,
      },
      {
        table: 'export_runs',
        insert: `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by) SELECT $1, $2, 'completed', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', 0, 0, '[]', '{}', '${sub}' FROM generate_series(1, $3::int)`,
        route: `${path}/exports`,
      },
      {
        table: 'webhook_events',
        insert: `INSERT INTO webhook_events (organization_id, integration_id, webhook_id, signature_scheme, payload) SELECT $1, $2, 'msg_' || gen_random_uuid(), 'standard_webhooks', '{}' FROM generate_series(1, $3::int)`,
        route: `${path}/webhook-events`,
      },
      {
        table: 'audit_events',
        insert: `INSERT INTO audit_events (organization_id, resource_type, resource_id, integration_id, action) SELECT $1, 'integration_config', $2, $2, 'integration_config.updated' FROM generate_series(1, $3::int)`,
        route: `/v1/organizations/${org}/audit-events`,
      },
    ];
    for (const list of lists) {
      await t.dataSource.query(list.insert, [org, config, 60]);
      const ids = async (): Promise<string[]> =>
        (await t.dataSource.query(`SELECT id FROM ${list.table} WHERE organization_id = $1 ORDER BY seq DESC`, [org])).map((r: { id: string }) => r.id);
      const before = await ids();
      const removed: string[] = [];
      const seen = await walk(list.route, token, 7, async (page, seenSoFar) => {
        // Newer rows written meanwhile are not in a walk that started before them; the row the cursor
        // names, and one not reached yet, removed.
        await t.dataSource.query(list.insert, [org, config, 3]);
        if (page === 1 || page === 4) {
          const further = before.filter((id) => !seenSoFar.includes(id) && !removed.includes(id))[3];
          await t.dataSource.query(`DELETE FROM ${list.table} WHERE id = ANY($1)`, [[seenSoFar[seenSoFar.length - 1], further]]);
          removed.push(further);
        }
      });
      expect({ table: list.table, seen }).toEqual({ table: list.table, seen: before.filter((id) => !removed.includes(id)) });
    }
  });
});

describe("a run's rows, paged (HTTP, real database)", () => {
  let t: TestApp;
  let api: ApiClient;
  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  // A run's stored result holds every row's output (up to 16 MiB); each page of its rows read it
  // whole to learn that the run exists, so a walk of a 10,000-row run read it fifty times.
  it("reads the run's existence, not its stored result, for each page", async () => {
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const path = `/v1/organizations/${org}/integrations/${(await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ sync_frequency: 'manual' }))).body.id}`;
    expect((await api.post(`${path}/field-mappings/bulk`, token, { items: XLEDGER_EXPORT_MAPPINGS })).status).toBe(201);
    const run = await api.post(`${path}/exports`, token, { records: [expenseClaim(), expenseClaim(), expenseClaim()], deliver: true });
    expect(run.status).toBe(202);
    // Every statement the app sends, seen on its way to PostgreSQL (and sent on unchanged).
    const statements: string[] = [];
    const send = Client.prototype.query;
    const seen = jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
      statements.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text));
      return (send as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    let page;
    try {
      page = await api.get(`${path}/exports/${run.body.id}/rows?limit=2`, token);
    } finally {
      seen.mockRestore();
    }
    expect(page.body.items.map((row: { index: number }) => row.index)).toEqual([0, 1]);
    const reads = statements.filter((sql) => /\bFROM "?export_runs"?/.test(sql));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((sql) => /\bresult\b/.test(sql))).toEqual([]);
  });
});

// The seq a page ends at is table-wide (every organization's rows): a cursor is sealed, so that it
// says nothing of it, and opens only on the organization, list and filters that issued it.
describe('sealed cursors (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  let admin: string;
  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
    admin = await t.token('global_admin');
  });
  afterAll(() => t.close());

  /** An organization with one config and `n` sync runs and audit events of its own. */
  async function tenant(n = 3): Promise<{ org: string; config: string; runs: string; audit: string }> {
    const org = newOrgId();
    const created = await api.post(`/v1/organizations/${org}/integrations`, await t.token('org_admin', org), hlfPortalConfig());
    expect(created.status).toBe(201);
    const config = created.body.id as string;
    await t.dataSource.query(
      `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by) SELECT $1, $2, 'success', now(), now(), $1 FROM generate_series(1, $3::int)`,
      [org, config, n],
    );
    await t.dataSource.query(
      `INSERT INTO audit_events (organization_id, resource_type, resource_id, integration_id, action) SELECT $1, 'integration_config', $2, $2, 'integration_config.updated' FROM generate_series(1, $3::int)`,
      [org, config, n],
    );
    return { org, config, runs: `/v1/organizations/${org}/integrations/${config}/sync-runs`, audit: `/v1/organizations/${org}/audit-events` };
  }

  async function firstCursor(list: string, query = ''): Promise<string> {
    const res = await api.get(`${list}?limit=1${query}`, admin);
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toEqual(expect.any(String));
    return res.body.next_cursor;
  }

  function expectRefused(res: Awaited<ReturnType<ApiClient['get']>>, message: RegExp): void {
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors).toEqual([{ field: 'cursor', rule: 'cursor_must_be_valid', message: expect.stringMatching(message) }]);
  }

  it('carries no readable seq: two tenants’ cursors are noise of one length, whatever their positions', async () => {
    // Positions of nine digits and more, so that no digit of noise passes for one (this suite's own database).
    for (const table of ['sync_runs', 'audit_events']) await t.dataSource.query(`SELECT setval(pg_get_serial_sequence($1, 'seq'), 987654321)`, [table]);
    const a = await tenant();
    // Rows of other organizations between the two tenants' pages, as on a busy platform.
    await t.dataSource.query(
      `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by) SELECT $1, $2, 'success', now(), now(), $1 FROM generate_series(1, 500)`,
      [a.org, a.config],
    );
    await t.dataSource.query(`DELETE FROM sync_runs WHERE organization_id = $1 AND seq > (SELECT min(seq) + 2 FROM sync_runs WHERE organization_id = $1)`, [a.org]);
    const b = await tenant();
    const cursors = [await firstCursor(a.runs), await firstCursor(b.runs), await firstCursor(a.audit), await firstCursor(b.audit)];
    const seqs: string[] = [
      ...(await t.dataSource.query(`SELECT seq FROM sync_runs WHERE organization_id = ANY($1)`, [[a.org, b.org]])),
      ...(await t.dataSource.query(`SELECT seq FROM audit_events WHERE organization_id = ANY($1)`, [[a.org, b.org]])),
    ].map((row: { seq: string }) => row.seq);
    expect(new Set(cursors.map((cursor) => cursor.length)).size).toBe(1);
    expect(cursors[0].length).toBeLessThan(200);
    for (const cursor of cursors) {
      const decoded = Buffer.from(cursor, 'base64url');
      for (const seq of seqs) {
        expect(decoded.toString('latin1')).not.toContain(seq);
        const binary = Buffer.alloc(8);
        binary.writeBigUInt64BE(BigInt(seq));
        expect(decoded.includes(binary)).toBe(false);
      }
    }
    // The same page asked twice: another cursor (a fresh IV), both opening to the same next page.
    const again = await firstCursor(a.runs);
    expect(again).not.toBe(cursors[0]);
    const [one, two] = [await api.get(`${a.runs}?limit=1&cursor=${cursors[0]}`, admin), await api.get(`${a.runs}?limit=1&cursor=${again}`, admin)];
    expect([one.status, one.body.items]).toEqual([200, two.body.items]);
  });

  it("refuses a cursor on another organization's list, another list, or with other filters (400 cursor_must_be_valid)", async () => {
    const a = await tenant();
    const b = await tenant();
    // global_admin reads both organizations: the 403 of an organization's scope does not answer first.
    expectRefused(await api.get(`${b.audit}?cursor=${await firstCursor(a.audit)}`, admin), /another organization/);
    expectRefused(await api.get(`${b.runs}?cursor=${await firstCursor(a.runs)}`, admin), /another organization/);
    const sync = await t.token('sync_service');
    expectRefused(await api.get(`${b.runs}?cursor=${await firstCursor(a.runs)}`, sync), /another organization/);

    const other = await api.post(`/v1/organizations/${a.org}/integrations`, await t.token('org_admin', a.org), xledgerConfig());
    expect(other.status).toBe(201);
    const otherRuns = `/v1/organizations/${a.org}/integrations/${other.body.id}/sync-runs`;
    await t.dataSource.query(
      `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by) VALUES ($1, $2, 'success', now(), now(), $1), ($1, $2, 'success', now(), now(), $1)`,
      [a.org, other.body.id],
    );
    expectRefused(await api.get(`${otherRuns}?cursor=${await firstCursor(a.runs)}`, admin), /another list/);
    expectRefused(await api.get(`${a.runs}?cursor=${await firstCursor(otherRuns)}`, admin), /another list/);
    expectRefused(await api.get(`${a.audit}?cursor=${await firstCursor(a.runs)}`, admin), /another list/);

    const action = '&action=integration_config.updated';
    const byAction = await firstCursor(a.audit, action);
    expectRefused(await api.get(`${a.audit}?cursor=${byAction}&action=integration_config.created`, admin), /other filters/);
    expectRefused(await api.get(`${a.audit}?cursor=${byAction}`, admin), /other filters/);
    expect((await api.get(`${a.audit}?cursor=${byAction}${action}`, admin)).status).toBe(200);
    const from = '&from=2026-01-01T00:00:00Z';
    const byFrom = await firstCursor(a.audit, from);
    expectRefused(await api.get(`${a.audit}?cursor=${byFrom}&from=2026-01-01T00:00:01Z`, admin), /other filters/);
    expectRefused(await api.get(`${a.audit}?cursor=${byFrom}${from}&to=2100-01-01T00:00:00Z`, admin), /other filters/);
    // The same instant written another way is the same filter.
    expect((await api.get(`${a.audit}?cursor=${byFrom}&from=${encodeURIComponent('2026-01-01T01:00:00+01:00')}`, admin)).status).toBe(200);
  });

  it('refuses a cursor with one byte altered (400 cursor_must_be_valid)', async () => {
    const a = await tenant();
    const cursor = await firstCursor(a.runs);
    const bytes = Buffer.from(cursor, 'base64url');
    for (const at of [0, 1, 2, bytes.length - 30, bytes.length - 20, bytes.length - 1]) {
      const flipped = Buffer.from(bytes);
      flipped[at] ^= 0x20;
      expectRefused(await api.get(`${a.runs}?cursor=${flipped.toString('base64url')}`, admin), /./);
    }
    expect((await api.get(`${a.runs}?cursor=${cursor}`, admin)).status).toBe(200);
  });

  it('opens a cursor sealed before a key rotation while its key is in the keyring; 400 once the key is removed', async () => {
    const a = await tenant();
    const cursor = await firstCursor(a.runs);
    const expected = (await api.get(`${a.runs}?limit=1&cursor=${cursor}`, admin)).body;
    const k2 = `k2:${randomBytes(32).toString('base64')}`;
    // k2 active now (the last listed), the first key kept.
    const rotated = await startTestApp({ env: { ENCRYPTION_KEYS: `${TEST_ENCRYPTION_KEYS},${k2}` } });
    let sealedUnderK2: string;
    try {
      const res = await apiClient(rotated).get(`${a.runs}?limit=1&cursor=${cursor}`, admin);
      expect([res.status, res.body.items]).toEqual([200, expected.items]);
      sealedUnderK2 = res.body.next_cursor;
      expect(Buffer.from(sealedUnderK2, 'base64url').subarray(2, 4).toString()).toBe('k2');
    } finally {
      await rotated.close();
    }
    const retired = await startTestApp({ env: { ENCRYPTION_KEYS: k2 } });
    try {
      expectRefused(await apiClient(retired).get(`${a.runs}?limit=1&cursor=${cursor}`, admin), /no longer in use/);
      expect((await apiClient(retired).get(`${a.runs}?limit=1&cursor=${sealedUnderK2}`, admin)).status).toBe(200);
    } finally {
      await retired.close();
    }
  });
});
