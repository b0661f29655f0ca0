import { Client } from 'pg';
import { apiClient, expectProblem, expenseClaim, hlfPortalConfig, rulesOf, XLEDGER_EXPORT_MAPPINGS, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

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
      for (const cursor of [foreign, 'a*b', 'x'.repeat(65)]) {
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
      expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
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
