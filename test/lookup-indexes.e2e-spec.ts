import { randomUUID } from 'node:crypto';
import { apiClient, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// Lookups that would otherwise read a whole table (or an organization's whole trail): their plans,
// over ANALYZEd synthetic history inserted in a transaction that is rolled back.
describe('lookup indexes (real database, query plans)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  /** The plan of `sql` once `fill` has put history in (all rolled back). */
  async function planWith(fill: string[], sql: string, parameters: unknown[]): Promise<string> {
    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      for (const statement of fill) await runner.query(statement);
      const [{ 'QUERY PLAN': plan }] = await runner.query(`EXPLAIN (FORMAT JSON) ${sql}`, parameters);
      return JSON.stringify(plan);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  }

  it("deleting a config finds its sync runs by index (the cascade), not by reading every organization's", async () => {
    const org = newOrgId();
    const res = await apiClient(t).post(`/v1/organizations/${org}/integrations`, await t.token('org_admin', org), xledgerConfig());
    expect(res.status).toBe(201);
    const plan = await planWith(
      [
        `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by)
         SELECT '${org}', '${res.body.id}', 'success', now(), now(), '${randomUUID()}' FROM generate_series(1, 50000)`,
        `ANALYZE sync_runs`,
      ],
      `DELETE FROM sync_runs WHERE integration_id = $1`,
      [randomUUID()],
    );
    expect(plan).toContain('"Index Name":"idx_sync_runs_integration"');
  });

  it("the audit trail filtered by action reads that action's events of the organization, not its whole trail", async () => {
    const org = newOrgId();
    const plan = await planWith(
      [
        `INSERT INTO audit_events (organization_id, resource_type, action) SELECT '${org}', 'integration_config', 'integration_config.updated' FROM generate_series(1, 50000)`,
        `INSERT INTO audit_events (organization_id, resource_type, action) SELECT '${org}', 'integration_config', 'egress.refused' FROM generate_series(1, 20)`,
        `ANALYZE audit_events`,
      ],
      `SELECT * FROM audit_events WHERE organization_id = $1 AND action = $2 ORDER BY seq DESC LIMIT 51`,
      [org, 'egress.refused'],
    );
    expect(plan).toContain('"Index Name":"idx_audit_events_org_action_seq"');
  });
});
