import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Connector } from '../src/sync/connector';
import { apiClient, type ApiClient, expectProblem, hlfPortalConfig, rulesOf, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// The audit trail through HTTP on the real database: what each action writes, in the
// transaction of the change (a refused change writes nothing), who may read it, and that no
// route, and (with the trigger) no statement, changes a row.
describe('audit trail (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  let connectionOk = true;
  const testConnector: Connector = {
    integrationType: 'xledger',
    maxBatchSize: 10,
    deliver: async (_context, rows) => rows.map((row) => ({ index: row.index, status: 'delivered', externalId: null })),
    testConnection: async () => {
      if (!connectionOk) throw new Error('vendor said no');
    },
  };

  beforeAll(async () => {
    t = await startTestApp({ connectors: [testConnector] });
    api = apiClient(t);
  });
  afterAll(() => t.close());

  async function admin() {
    const org = newOrgId();
    const sub = randomUUID();
    const token = await t.token('org_admin', org, { sub });
    return { org, sub, token, base: `/v1/organizations/${org}` };
  }

  async function events(org: string, token: string, query = '') {
    const res = await api.get(`/v1/organizations/${org}/audit-events${query}`, token);
    expect(res.status).toBe(200);
    return res.body.items as {
      action: string;
      resource_id: string | null;
      integration_id: string | null;
      changed_fields: string[];
      actor: unknown;
      details: Record<string, unknown>;
      request_id: string | null;
      occurred_at: string;
    }[];
  }

  const rowCount = async (db: DataSource, org: string) => (await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE organization_id = $1`, [org]))[0].n as number;

  it('records config changes with who, role, request id and the names of the fields, never a value', async () => {
    const { org, sub, token, base } = await admin();
    const created = await api.post(`${base}/integrations`, token, hlfPortalConfig(), { 'X-Request-Id': 'req-audit-create' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const secret = `s3cret-${randomBytes(8).toString('hex')}`;
    expect((await api.patch(`${base}/integrations/${id}`, token, { client_secret: secret, display_name: 'HLF 2', enabled: true })).status).toBe(200);
    const rotated = await api.post(`${base}/integrations/${id}/webhook-secret`, token);
    expect(rotated.status).toBe(201);

    const trail = await events(org, token);
    expect(trail.map((e) => e.action)).toEqual(['integration_config.webhook_secret_rotated', 'integration_config.updated', 'integration_config.created']);
    const [rotation, update, creation] = trail;
    expect(creation).toMatchObject({
      resource_id: id,
      integration_id: id,
      actor: { sub, role: 'org_admin', organization_id: org },
      request_id: 'req-audit-create',
      changed_fields: expect.arrayContaining(['display_name', 'enabled', 'base_url', 'client_id', 'extra_config', 'client_secret']),
    });
    // enabled was already true: sent again, it is not a change.
    expect(update.changed_fields.sort()).toEqual(['client_secret', 'display_name']);
    expect(rotation.changed_fields).toEqual(['webhook_secret']);
    // Neither the new secret, nor the rotated one, nor the first one is anywhere in the rows.
    const stored = JSON.stringify(await t.dataSource.query(`SELECT * FROM audit_events WHERE organization_id = $1`, [org]));
    for (const value of [secret, rotated.body.webhook_secret as string, (rotated.body.webhook_secret as string).slice(6)]) expect(stored.includes(value)).toBe(false);
  });

  it('writes nothing when the change is refused (same transaction)', async () => {
    const { org, token, base } = await admin();
    const created = await api.post(`${base}/integrations`, token, hlfPortalConfig());
    const before = await rowCount(t.dataSource, org);
    // 422: enabling without credentials; 412: a stale If-Match. Neither changes the config, neither is audited.
    expectProblem(await api.patch(`${base}/integrations/${created.body.id}`, token, { client_id: null }), 422, 'credentials_required_before_enable');
    expectProblem(await api.patch(`${base}/integrations/${created.body.id}`, token, { display_name: 'x' }, { 'If-Match': '"999"' }), 412, 'precondition_failed');
    expect(await rowCount(t.dataSource, org)).toBe(before);
  });

  it('rolls the change back when its audit event cannot be written (one transaction)', async () => {
    const { org, token, base } = await admin();
    const created = await api.post(`${base}/integrations`, token, hlfPortalConfig());
    const path = `${base}/integrations/${created.body.id}`;
    // The database itself refuses this organization's audit events: nothing in the service is faked.
    await t.dataSource.query(`CREATE FUNCTION refuse_audit_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit write failed'; END $$`);
    await t.dataSource.query(
      `CREATE TRIGGER refuse_audit_event BEFORE INSERT ON audit_events FOR EACH ROW WHEN (NEW.organization_id = '${org}') EXECUTE FUNCTION refuse_audit_event()`,
    );
    try {
      expectProblem(await api.patch(path, token, { display_name: 'Renamed', client_secret: 'n3w-secret' }), 500, 'internal_error');
    } finally {
      await t.dataSource.query(`DROP TRIGGER refuse_audit_event ON audit_events`);
      await t.dataSource.query(`DROP FUNCTION refuse_audit_event()`);
    }
    const after = await api.get(path, token);
    expect(after.body).toMatchObject({ display_name: 'HLF', revision: created.body.revision });
    expect((await events(org, token)).map((e) => e.action)).toEqual(['integration_config.created']);
  });

  it('records mapping creation, changes, versions, order and deletion under the mapping and its config', async () => {
    const { org, token, base } = await admin();
    const config = await api.post(`${base}/integrations`, token, { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example' });
    const id = config.body.id as string;
    const path = `${base}/integrations/${id}/field-mappings`;
    const a = await api.post(path, token, { source_field: 'expense_amount', target_field: 'Amount' });
    const b = await api.post(path, token, { source_field: 'expense_date', target_field: 'TransactionDate' });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect((await api.patch(`${path}/${a.body.id}`, token, { display_label: 'Beløp', sort_order: 5 })).status).toBe(200);
    const version = await api.post(`${path}/${b.body.id}/versions`, token, { target_field: 'Date' });
    expect(version.status).toBe(201);
    expect((await api.put(`${path}/order`, token, { ids: [version.body.id, a.body.id] })).status).toBe(200);
    expect((await api.delete(`${path}/${a.body.id}`, token)).status).toBe(204);

    const ofMappingA = await events(org, token, `?resource_id=${a.body.id}`);
    expect(ofMappingA.map((e) => e.action)).toEqual(['field_mapping.deleted', 'field_mapping.updated', 'field_mapping.created']);
    expect(ofMappingA[1].changed_fields.sort()).toEqual(['display_label', 'sort_order']);
    expect(ofMappingA[2].changed_fields.sort()).toEqual(['source_field', 'target_field']);
    const [versioned] = await events(org, token, `?action=field_mapping.version_created`);
    expect(versioned).toMatchObject({
      resource_id: version.body.id,
      integration_id: id,
      changed_fields: ['target_field'],
      details: { version: 2, previous_version_id: b.body.id },
    });
    // The config's id lists its own events and its mappings'.
    const ofConfig = await events(org, token, `?resource_id=${id}`);
    expect(ofConfig.map((e) => e.action)).toEqual([
      'field_mapping.deleted',
      'field_mapping.reordered',
      'field_mapping.version_created',
      'field_mapping.updated',
      'field_mapping.created',
      'field_mapping.created',
      'integration_config.created',
    ]);
    // Page by page (either of the two ids matching), the same events in the same order.
    const paged: string[] = [];
    for (let cursor: string | null = '', pages = 0; cursor !== null && pages < 10; pages += 1) {
      const res = await api.get(`/v1/organizations/${org}/audit-events?resource_id=${id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, token);
      paged.push(...res.body.items.map((e: { action: string }) => e.action));
      cursor = res.body.next_cursor;
    }
    expect(paged).toEqual(ofConfig.map((e) => e.action));
  });

  it("records the mappings a config's field_mappings shorthand creates, retargets and deactivates, each under its own id", async () => {
    const { org, token, base } = await admin();
    const created = await api.post(`${base}/integrations`, token, {
      integration_type: 'xledger',
      display_name: 'X',
      field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate' },
    });
    const path = `${base}/integrations/${created.body.id}`;
    expect((await api.patch(path, token, { field_mappings: { expense_amount: 'amount' } })).status).toBe(200);
    const mappings = (await api.get(`${path}/field-mappings`, token)).body.items as { id: string; source_field: string }[];
    const idOf = (source: string) => mappings.find((m) => m.source_field === source)!.id;
    const of = async (id: string) => (await events(org, token, `?resource_id=${id}`)).map((e) => [e.action, e.changed_fields]);
    expect(await of(idOf('expense_amount'))).toEqual([
      ['field_mapping.updated', ['target_field']],
      ['field_mapping.created', ['source_field', 'target_field']],
    ]);
    expect(await of(idOf('expense_date'))).toEqual([
      ['field_mapping.updated', ['is_active']],
      ['field_mapping.created', ['source_field', 'target_field']],
    ]);
  });

  it('records deliveries requested and connection tests (ok or not, also while disabled)', async () => {
    const { org, token, base } = await admin();
    const config = await api.post(`${base}/integrations`, token, xledgerConfig({ api_key: 'k'.repeat(24) }));
    const id = config.body.id as string;
    expect((await api.post(`${base}/integrations/${id}/sync`, token)).status).toBe(202);
    connectionOk = true;
    expect((await api.post(`${base}/integrations/${id}/connection-test`, token)).body).toMatchObject({ ok: true });
    expect((await api.patch(`${base}/integrations/${id}`, token, { enabled: false })).status).toBe(200);
    connectionOk = false;
    expect((await api.post(`${base}/integrations/${id}/connection-test`, token)).body).toMatchObject({ ok: false });

    const trail = await events(org, token, `?resource_id=${id}`);
    expect(trail.map((e) => [e.action, e.details['ok'] ?? e.details['queued_runs'] ?? null])).toEqual([
      ['connection.tested', false],
      ['integration_config.updated', null],
      ['connection.tested', true],
      ['delivery.requested', 0],
      ['integration_config.created', null],
    ]);
  });

  it("records a sync run reported through the API in the config's organization, with who reported it, in the run's transaction", async () => {
    const { org, sub, token, base } = await admin();
    const config = await api.post(`${base}/integrations`, token, xledgerConfig({ api_key: 'k'.repeat(24) }));
    const id = config.body.id as string;
    const service = randomUUID();
    const syncService = await t.token('sync_service', null, { sub: service });
    const failed = await api.post(`${base}/integrations/${id}/sync-runs`, syncService, { status: 'failed', started_at: '2026-11-22T10:00:00Z', error: 'vendor said no' });
    const succeeded = await api.post(`${base}/integrations/${id}/sync-runs`, token, { status: 'success', started_at: '2026-11-22T11:00:00Z' });
    expect([failed.status, succeeded.status]).toEqual([201, 201]);

    const trail = await events(org, token, `?resource_id=${id}&action=sync_run.recorded`);
    expect(trail.map((e) => [e.resource_id, e.integration_id, e.actor, [...e.changed_fields].sort(), e.details])).toEqual([
      [succeeded.body.id, id, { sub, role: 'org_admin', organization_id: org }, ['last_success_at', 'last_sync_at', 'last_sync_error', 'last_sync_status'], { status: 'success' }],
      [failed.body.id, id, { sub: service, role: 'sync_service', organization_id: null }, ['last_sync_at', 'last_sync_error', 'last_sync_status'], { status: 'failed' }],
    ]);
    // The run's own error is its history's, not the trail's.
    expect(JSON.stringify(trail)).not.toContain('vendor said no');

    // Refused (a disabled config), or its event not written: no run, no event, the config as it was.
    expect((await api.patch(`${base}/integrations/${id}`, token, { enabled: false })).status).toBe(200);
    expectProblem(
      await api.post(`${base}/integrations/${id}/sync-runs`, syncService, { status: 'success', started_at: '2026-11-22T12:00:00Z' }),
      409,
      'disabled_integration_must_not_sync',
    );
    expect((await api.patch(`${base}/integrations/${id}`, token, { enabled: true })).status).toBe(200);
    const before = await api.get(`${base}/integrations/${id}`, token);
    await t.dataSource.query(`CREATE FUNCTION refuse_sync_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit write failed'; END $$`);
    await t.dataSource.query(
      `CREATE TRIGGER refuse_sync_audit BEFORE INSERT ON audit_events FOR EACH ROW WHEN (NEW.organization_id = '${org}' AND NEW.action = 'sync_run.recorded') EXECUTE FUNCTION refuse_sync_audit()`,
    );
    try {
      expectProblem(
        await api.post(`${base}/integrations/${id}/sync-runs`, syncService, { status: 'failed', started_at: '2026-11-22T13:00:00Z', error: 'x' }),
        500,
        'internal_error',
      );
    } finally {
      await t.dataSource.query(`DROP TRIGGER refuse_sync_audit ON audit_events`);
      await t.dataSource.query(`DROP FUNCTION refuse_sync_audit()`);
    }
    expect((await api.get(`${base}/integrations/${id}`, token)).body).toEqual(before.body);
    expect((await api.get(`${base}/integrations/${id}/sync-runs`, token)).body.items).toHaveLength(2);
    expect(await events(org, token, `?action=sync_run.recorded`)).toHaveLength(2);
  });

  it("records a refusal in the asker's organization for an org_admin (another tenant cannot write into the one it probed), else in the one asked for", async () => {
    const target = await admin();
    const intruder = await admin();
    const probedId = randomUUID();
    expectProblem(await api.get(`${target.base}/integrations/${probedId}`, intruder.token), 403, 'org_scoped_access_only');
    const sync = await t.token('sync_service');
    expectProblem(await api.get(`${target.base}/audit-events`, sync), 403, 'forbidden');
    // The filter writes the refusal after answering: wait for it.
    const waitFor = async (org: string, token: string) => {
      let found: Awaited<ReturnType<typeof events>> = [];
      for (let i = 0; i < 200 && found.length === 0; i++) {
        found = await events(org, token, '?action=access.refused');
        if (found.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return found;
    };
    const intruders = await waitFor(intruder.org, intruder.token);
    expect(intruders.map((e) => [e.actor, e.resource_id, e.details])).toEqual([
      [
        { sub: intruder.sub, role: 'org_admin', organization_id: intruder.org },
        null,
        { rule: 'org_scoped_access_only', method: 'GET', route: '/v1/organizations/:org_id/integrations/:id', organization_asked_for: target.org },
      ],
    ]);
    const targets = await waitFor(target.org, target.token);
    expect(targets.map((e) => [e.actor, e.details])).toEqual([
      [expect.objectContaining({ role: 'sync_service' }), { rule: 'forbidden', method: 'GET', route: '/v1/organizations/:org_id/audit-events' }],
    ]);
    // Nothing the intruder sent shows in the probed organization's trail, not even the id it made up.
    expect(await events(target.org, target.token, `?resource_id=${probedId}`)).toEqual([]);
  });

  it('lets an org_admin read its own organization and a global_admin any; nobody else', async () => {
    const a = await admin();
    const b = await admin();
    await api.post(`${a.base}/integrations`, a.token, hlfPortalConfig());
    const global = await t.token('global_admin');
    expect((await events(a.org, global)).map((e) => e.action)).toEqual(['integration_config.created']);
    expectProblem(await api.get(`${a.base}/audit-events`, b.token), 403, 'org_scoped_access_only');
    expectProblem(await api.get(`${a.base}/audit-events`, null), 401, 'unauthorized');
    // Another organization's ids find nothing in this one's trail.
    const [own] = await events(a.org, a.token, '?action=integration_config.created');
    expect(await events(b.org, b.token, `?resource_id=${own.resource_id}`)).toEqual([]);
  });

  it('has no route that changes or deletes an event', async () => {
    const { org, token } = await admin();
    for (const method of ['post', 'put', 'patch', 'delete'] as const) {
      const res = await api[method](`/v1/organizations/${org}/audit-events`, token, {});
      expect([404, 405]).toContain(res.status);
    }
    const res = await api.delete(`/v1/organizations/${org}/audit-events/${randomUUID()}`, token);
    expect(res.status).toBe(404);
  });

  it('refuses an UPDATE of a row in the database itself (trigger), and the documented role setup refuses DELETE too', async () => {
    const { org, token, base } = await admin();
    await api.post(`${base}/integrations`, token, hlfPortalConfig());
    await expect(t.dataSource.query(`UPDATE audit_events SET action = 'x' WHERE organization_id = $1`, [org])).rejects.toThrow(/append-only/);
    // docs/operations.md "Audit trail": the service's role keeps INSERT and SELECT only.
    const role = `meander_audit_probe_${randomBytes(4).toString('hex')}`;
    const runner = t.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query(`CREATE ROLE ${role} NOLOGIN`);
      await runner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      await runner.query(`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM ${role}`);
      await runner.query(`SET ROLE ${role}`);
      await runner.query(`INSERT INTO audit_events (organization_id, resource_type, action) VALUES ($1, 'request', 'access.refused')`, [org]);
      await expect(runner.query(`DELETE FROM audit_events WHERE organization_id = $1`, [org])).rejects.toThrow(/permission denied/);
      await runner.query(`RESET ROLE`);
    } finally {
      await runner.query(`RESET ROLE`).catch(() => undefined);
      await runner.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
      await runner.query(`DROP ROLE ${role}`);
      await runner.release();
    }
    expect(await rowCount(t.dataSource, org)).toBe(2);
  });

  it('filters by time range and pages newest first; refuses bad filters by rule', async () => {
    const { org, token, base } = await admin();
    for (let i = 0; i < 3; i++)
      await api.post(`${base}/integrations`, token, { integration_type: i === 0 ? 'xledger' : i === 1 ? 'hlf_portal' : 'dynamics', display_name: `c${i}` });
    const first = await events(org, token, '?limit=2');
    expect(first).toHaveLength(2);
    const page1 = await api.get(`${base}/audit-events?limit=2`, token);
    const page2 = await api.get(`${base}/audit-events?limit=2&cursor=${page1.body.next_cursor}`, token);
    expect(page2.body.items).toHaveLength(1);
    expect(page2.body.next_cursor).toBeNull();
    const all = [...page1.body.items, ...page2.body.items].map((e: { occurred_at: string }) => e.occurred_at);
    expect([...all].sort().reverse()).toEqual(all);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await events(org, token, `?from=${encodeURIComponent(future)}`)).toEqual([]);
    expect(await events(org, token, `?to=${encodeURIComponent(future)}`)).toHaveLength(3);
    const past = '2020-01-01T00:00:00Z';
    expect(await events(org, token, `?to=${past}`)).toEqual([]);
    // Between the first event and the last: the last two, newest first.
    const times = all.map((t) => new Date(t).getTime());
    const between = await events(org, token, `?from=${encodeURIComponent(new Date(times[1]).toISOString())}&to=${encodeURIComponent(new Date(times[0] + 1).toISOString())}`);
    expect(between.map((e) => e.occurred_at)).toEqual(all.slice(0, 2));
    expect(rulesOf(await api.get(`${base}/audit-events?resource_id=nope`, token))).toEqual(['resource_id:resource_id_must_be_uuid']);
    expect(rulesOf(await api.get(`${base}/audit-events?action=config.nuked`, token))).toEqual(['action:audit_action_must_be_known_value']);
    expect(rulesOf(await api.get(`${base}/audit-events?from=yesterday`, token))).toEqual(['from:timestamp_must_be_iso8601']);
    expect(rulesOf(await api.get(`${base}/audit-events?from=${encodeURIComponent(future)}&to=2026-01-01T00:00:00Z`, token))).toEqual(['to:time_range_must_be_ordered']);
  });
});
