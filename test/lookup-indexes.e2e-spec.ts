import { randomUUID } from 'node:crypto';
import type { KeysetPage } from '../src/common/pagination';
import type { AuditEventEntity } from '../src/audit/audit-event.entity';
import { apiClient, xledgerConfig } from './support/api';
import { nodesOf, rowsRead, type PlanNode } from './support/query-plans';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';
import { AuditEventRepository } from '../src/audit/audit-event.repository';
import { DEFAULT_PAGE_SIZE } from '../src/common/pagination';
import { Transaction } from '../src/database/transaction';
import { ExportRunRepository } from '../src/export-runs/export-run.repository';
import { SyncRunRepository } from '../src/integration-config/sync-run.repository';
import { WebhookEventRepository } from '../src/webhooks/webhook-event.repository';

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

// The growing lists page newest first by `seq`. A tenant's first page must come from its own
// index, whatever share of the table it holds: scanning the table-wide `seq` index backwards and
// filtering by organization read every newer row of every other tenant before the first of its
// own (here a big customer whose history stopped while another carries on).
describe('list pages (real database, query plans of the SQL they run)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  /** A config of a new organization. */
  async function newConfig(): Promise<{ org: string; config: string }> {
    const org = newOrgId();
    const res = await apiClient(t).post(`/v1/organizations/${org}/integrations`, await t.token('org_admin', org), xledgerConfig());
    expect(res.status).toBe(201);
    return { org, config: res.body.id };
  }

  /**
   * The plan of every SELECT `read` runs on a transaction holding `fill`'s history (all rolled back);
   * with `analyze`, as run (EXPLAIN ANALYZE runs it: what it read).
   */
  async function plansOf(fill: string[], read: (tx: Transaction) => Promise<unknown>, options: { analyze?: boolean } = {}): Promise<string[]> {
    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    const plans: string[] = [];
    try {
      for (const statement of fill) await runner.query(statement);
      // Every statement of the read goes through the runner: each SELECT is EXPLAINed before it runs.
      const query = runner.query.bind(runner) as (sql: string, parameters?: unknown[], structured?: boolean) => Promise<any>;
      runner.query = (async (sql: string, parameters?: unknown[], structured?: boolean) => {
        if (/^\s*SELECT/i.test(sql)) plans.push(JSON.stringify((await query(`EXPLAIN (${options.analyze ? 'ANALYZE, ' : ''}FORMAT JSON) ${sql}`, parameters))[0]['QUERY PLAN']));
        return query(sql, parameters, structured);
      }) as typeof runner.query;
      await read(new Transaction(runner.manager));
      return plans;
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  }

  /** `insert` (a statement of `n` rows for organization $org, config $config) for the big tenant, then for the other. */
  const history = (big: { org: string; config: string }, other: { org: string; config: string }, table: string, insert: (org: string, config: string, n: number) => string) => [
    insert(big.org, big.config, 30000),
    insert(other.org, other.config, 20000),
    `ANALYZE ${table}`,
  ];

  it('sync runs, export runs, the audit trail and webhook events read their first page from the tenant index', async () => {
    const big = await newConfig();
    const other = await newConfig();
    const sub = randomUUID();
    const fill = [
      ...history(
        big,
        other,
        'sync_runs',
        (org, config, n) => `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by)
         SELECT '${org}', '${config}', 'success', now(), now(), '${sub}' FROM generate_series(1, ${n})`,
      ),
      ...history(
        big,
        other,
        'export_runs',
        (org, config, n) => `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by)
         SELECT '${org}', '${config}', 'completed', now(), now(), 0, 0, '[]', '{}', '${sub}' FROM generate_series(1, ${n})`,
      ),
      ...history(
        big,
        other,
        'audit_events',
        (org, config, n) => `INSERT INTO audit_events (organization_id, resource_type, resource_id, integration_id, action)
         SELECT '${org}', 'integration_config', '${config}', '${config}', 'integration_config.updated' FROM generate_series(1, ${n})`,
      ),
      ...history(
        big,
        other,
        'webhook_events',
        (org, config, n) => `INSERT INTO webhook_events (organization_id, integration_id, webhook_id, signature_scheme, payload)
         SELECT '${org}', '${config}', 'msg_' || g, 'standard_webhooks', '\\x7b7d' FROM generate_series(1, ${n}) g`,
      ),
    ];
    const first = { after: null, limit: DEFAULT_PAGE_SIZE };
    const plans = await plansOf(fill, async (tx) => {
      await t.app.get(SyncRunRepository).in(tx).listPage(big.org, big.config, first);
      await t.app.get(ExportRunRepository).in(tx).listPage(big.org, big.config, first);
      await t.app.get(AuditEventRepository).in(tx).listPage(big.org, {}, first);
      await t.app.get(WebhookEventRepository).in(tx).listPage(big.org, big.config, first);
    });
    expect(plans.map((plan) => plan.match(/"Index Name":"(\w+)"/)?.[1])).toEqual([
      'idx_sync_runs_integration_seq',
      'idx_export_runs_integration_seq',
      'idx_audit_events_org_seq',
      // The page's sizes, then its events.
      'idx_webhook_events_integration_seq',
      'idx_webhook_events_integration_seq',
    ]);
  });

  /** Of each plan (EXPLAIN ANALYZE): the indexes it read and how many rows it read from tables and indexes. */
  const reads = (plans: string[]) =>
    plans.map((json) => {
      const plan = (JSON.parse(json) as { Plan: PlanNode }[])[0].Plan;
      return {
        indexes: [...new Set(nodesOf(plan).flatMap((node) => node['Index Name'] ?? (node['Relation Name'] ? [`${node['Node Type']} ${node['Relation Name']}`] : [])))].sort(),
        rows: rowsRead(plan),
      };
    });

  /** Every page of the audit trail of `org` under `filter` (AuditEventRepository.listPage on `tx`): their event counts. */
  async function walkAuditTrail(tx: Transaction, org: string, filter: Parameters<AuditEventRepository['listPage']>[1], limit: number, pages: number): Promise<number[]> {
    const counts: number[] = [];
    let page: KeysetPage<AuditEventEntity> | undefined;
    while (counts.length < pages && (!page || page.nextAfter)) {
      page = await t.app
        .get(AuditEventRepository)
        .in(tx)
        .listPage(org, filter, { limit, after: page?.nextAfter ?? null });
      counts.push(page.items.length);
    }
    return counts;
  }

  // `resource_id` matches the event's resource or its config. As one OR, the planner walked the
  // organization's trail backwards for the OR (here: the whole trail, past every newer event, to
  // the quiet config's), or read all of a resource's events to sort them.
  it("the audit trail of one resource reads a page from each of the tenant's resource and config indexes, quiet resource or busy", async () => {
    const big = newOrgId();
    const quiet = randomUUID();
    const busy = randomUUID();
    const event = (org: string, resource: string, config: string, n: number) =>
      `INSERT INTO audit_events (organization_id, resource_type, resource_id, integration_id, action) SELECT '${org}', 'field_mapping', ${resource}, ${config}, 'field_mapping.updated' FROM generate_series(1, ${n}) g`;
    const fill = [
      // The quiet config's events, long ago: its own and its mappings'.
      event(big, `'${quiet}'`, `'${quiet}'`, 2000),
      event(big, 'gen_random_uuid()', `'${quiet}'`, 2000),
      // Then the big tenant's other configs (a busy one among them) and other tenants.
      event(
        big,
        `CASE WHEN g % 2 = 0 THEN '${busy}'::uuid ELSE gen_random_uuid() END`,
        `CASE WHEN g % 3 = 0 THEN '${busy}'::uuid ELSE ('00000000-0000-4000-8000-' || lpad((g % 40)::text, 12, '0'))::uuid END`,
        80000,
      ),
      event(newOrgId(), 'gen_random_uuid()', `'${quiet}'`, 20000),
      event(newOrgId(), `'${busy}'`, `'${busy}'`, 20000),
      `ANALYZE audit_events`,
    ];
    const plans = await plansOf(
      fill,
      async (tx) => {
        expect(await walkAuditTrail(tx, big, { resourceId: quiet }, 50, 2)).toEqual([50, 50]);
        expect(await walkAuditTrail(tx, big, { resourceId: busy }, 50, 2)).toEqual([50, 50]);
      },
      { analyze: true },
    );
    for (const read of reads(plans)) {
      expect(read.indexes).toEqual(['idx_audit_events_org_integration', 'idx_audit_events_org_resource']);
      // At most a page and one more from each.
      expect(read.rows).toBeLessThanOrEqual(2 * 51);
    }
  });

  // The table-wide occurred_at index is the retention job's: a window read by it read every
  // tenant's events in the window (here three times as many as the organization's own).
  it("the audit trail's from/to window reads the organization's events in it, not every tenant's", async () => {
    const big = newOrgId();
    const other = newOrgId();
    const start = Date.parse('2025-03-01T00:00:00Z');
    const fill = [
      // A quarter of the events are the big tenant's, one every minute for 40 days; the rest another tenant's, interleaved.
      `INSERT INTO audit_events (organization_id, resource_type, resource_id, action, occurred_at)
       SELECT CASE WHEN g % 4 = 0 THEN '${big}'::uuid ELSE '${other}'::uuid END, 'integration_config', gen_random_uuid(), 'integration_config.updated', '${new Date(start).toISOString()}'::timestamptz + g * interval '15 seconds'
       FROM generate_series(1, 230400) g`,
      `ANALYZE audit_events`,
    ];
    // Two hours: 120 events of the big tenant, 360 of the other's.
    const from = new Date(start + 20 * 86_400_000);
    const window = { from, to: new Date(from.getTime() + 2 * 3_600_000) };
    const plans = await plansOf(
      fill,
      async (tx) => {
        expect(await walkAuditTrail(tx, big, window, 50, 10)).toEqual([50, 50, 20]);
        expect(await walkAuditTrail(tx, big, { ...window, action: 'integration_config.updated' }, 50, 10)).toEqual([50, 50, 20]);
      },
      { analyze: true },
    );
    for (const read of reads(plans)) {
      expect(read.indexes).toEqual(['idx_audit_events_org_occurred_at']);
      expect(read.rows).toBeLessThanOrEqual(120);
    }
  });
});
