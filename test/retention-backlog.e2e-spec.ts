import type { QueryRunner } from 'typeorm';
import { DELETE_EXPORT_RUN_ROWS, DELETE_EXPORT_RUNS, EXPORT_RUN_WINDOW } from '../src/retention/retention.repository';
import { apiClient, expenseClaim, XLEDGER_EXPORT_MAPPINGS, xledgerConfig } from './support/api';
import { nodesOf, rowsRead, type PlanNode } from './support/query-plans';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(120_000);

/** The runs a window takes (and so the rows and runs a batch deletes). */
const LIMIT = 100;
/** Runs of history added at a time, using the same mapping versions as the window's runs. */
const BACKLOG = 10_000;
const FIRST_POSITION = ['-infinity', '00000000-0000-0000-0000-000000000000'];

/**
 * The export-run statements of the retention job over a backlog of ANALYZEd runs that all used the
 * same mapping versions (as a config's exports do until a mapping changes). What each statement
 * reads is counted from EXPLAIN ANALYZE, never timed: doubling the backlog behind a window must not
 * change it. The statements that read every run of a version for each run they looked at (the GIN
 * index on mappings_used), and every prunable run after each batch of rows, did.
 */
describe('retention over a backlog: each export-run statement reads its window, not the backlog behind it (EXPLAIN ANALYZE)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  }, 60_000);
  afterAll(() => t.close());

  /** An Xledger config with complete mappings, a new version of one of them, and an export with those versions (the backlog's template). */
  async function configWithAnExport(): Promise<string> {
    const api = apiClient(t);
    const org = newOrgId();
    const token = await t.token('org_admin', org);
    const config = await api.post(`/v1/organizations/${org}/integrations`, token, xledgerConfig({ sync_frequency: 'manual' }));
    expect(config.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${config.body.id}`;
    const mappings = await api.post(`${path}/field-mappings/bulk`, token, { items: XLEDGER_EXPORT_MAPPINGS });
    expect(mappings.status).toBe(201);
    const exportRun = async () => {
      const res = await api.post(`${path}/exports`, token, { records: [expenseClaim()] });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    await exportRun();
    const costCenter = (mappings.body.items as { id: string; source_field: string }[]).find((m) => m.source_field === 'cost_center')!.id;
    expect((await api.post(`${path}/field-mappings/${costCenter}/versions`, token, { default_value: 'CC1' })).status).toBe(201);
    return exportRun();
  }

  it('reads the same rows with twice the backlog: a window of runs, a few runs back for their mapping versions, their rows by key', async () => {
    // Two configs whose runs take turns, so a config's runs are not all the table's; within a config
    // every other run leaves out a mapping (deactivated, then active again), so the run after it is
    // looked up version by version, not only against the run just before.
    const templates = [await configWithAnExport(), await configWithAnExport()];
    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query('SET LOCAL jit = off');
      // The window: the oldest runs, 300 days old; the backlog behind it then doubles with runs 200 days old.
      await addBacklog(runner, templates, 300);
      const first = await explainBatch(runner);
      await addBacklog(runner, templates, 200);
      const second = await explainBatch(runner);

      // Twice the backlog, the same reads: give or take the window's runs read whole rather than up
      // to the batch's last row (another plan on other statistics), never another backlog's worth.
      expect(Math.abs(second.read.window - first.read.window)).toBeLessThanOrEqual(LIMIT);
      expect(Math.abs(second.read.rows - first.read.rows)).toBeLessThanOrEqual(LIMIT);
      expect(Math.abs(second.read.runs - first.read.runs)).toBeLessThanOrEqual(LIMIT);
      // A window of 100 runs: the runs, the run before each in its config, and for the versions of half of them a few more.
      expect(first.read.window).toBeLessThan(20 * LIMIT);
      // A batch of 100 rows (of 50 runs) and the window's 100 runs, looked up by key, whose rows are looked for.
      expect(first.read.rows).toBeLessThan(10 * LIMIT);
      expect(first.read.runs).toBeLessThan(10 * LIMIT);
      for (const plan of [...Object.values(first.plans), ...Object.values(second.plans)]) {
        const nodes = nodesOf(plan);
        // The GIN index answers with every run of a version; a sequential scan reads every run or row.
        expect(nodes.filter((node) => node['Index Name'] === 'idx_export_runs_mappings_used')).toEqual([]);
        expect(nodes.filter((node) => node['Node Type'] === 'Seq Scan' && ['export_runs', 'export_run_rows'].includes(node['Relation Name'] ?? ''))).toEqual([]);
      }
      for (const plan of [first.plans.rows, first.plans.runs, second.plans.rows, second.plans.runs]) {
        expect(nodesOf(plan).filter((node) => ['Hash Join', 'Merge Join', 'Hash Semi Join', 'Hash Anti Join'].includes(node['Node Type']))).toEqual([]);
      }
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('passes over the first runs of many versions of a mapping reading a few runs for each, however many such runs its config keeps before them', async () => {
    const template = await configWithAnExport();
    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query('SET LOCAL jit = off');
      // A mapping changed 1,000 times (a lookup table synced daily, say), each version first used by a run: 1,000 runs kept for good.
      const [current] = (await runner.query(
        `SELECT m.id FROM field_mappings m JOIN export_runs t ON m.organization_id = t.organization_id AND m.integration_id = t.integration_id
         WHERE t.id = $1 AND m.source_field = 'cost_center' AND m.superseded_at IS NULL`,
        [template],
      )) as { id: string }[];
      await runner.query(`UPDATE field_mappings SET superseded_at = now(), is_active = false WHERE id = $1`, [current.id]);
      await runner.query(
        `WITH versions AS (SELECT gen_random_uuid() AS id, n FROM generate_series(1, $2) AS n),
         chain AS (SELECT v.*, coalesce(lag(v.id) OVER (ORDER BY v.n), $1::uuid) AS previous_version_id FROM versions v)
         INSERT INTO field_mappings (id, organization_id, integration_id, source_field, target_field, transform_type, default_value, is_required, display_label,
                                     sort_order, is_active, version, lineage_id, previous_version_id, superseded_at, used_in_export)
         SELECT ch.id, c.organization_id, c.integration_id, c.source_field, c.target_field, c.transform_type, 'CC' || (c.version + ch.n), c.is_required, c.display_label,
                c.sort_order, ch.n = $2, c.version + ch.n, c.lineage_id, ch.previous_version_id, CASE WHEN ch.n = $2 THEN NULL ELSE now() END, true
         FROM chain ch, field_mappings c WHERE c.id = $1::uuid
         ORDER BY ch.n`,
        [current.id, 1000],
      );
      await runner.query(
        `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by, created_at)
         SELECT t.organization_id, t.integration_id, 'completed', t.started_at, t.finished_at, 0, 0,
                (SELECT jsonb_agg(CASE WHEN u.item->>'mapping_id' = $2::text THEN jsonb_build_object('mapping_id', v.id, 'version', v.version) ELSE u.item END ORDER BY u.position)
                 FROM jsonb_array_elements(t.mappings_used) WITH ORDINALITY AS u(item, position)),
                t.result, t.created_by, now() - make_interval(days => 300) + make_interval(secs => v.version)
         FROM export_runs t, field_mappings v, field_mappings c
         WHERE t.id = $1 AND c.id = $2::uuid AND v.lineage_id = c.lineage_id AND v.version > c.version
         ORDER BY v.version`,
        [template, current.id],
      );
      await runner.query('ANALYZE export_runs');
      await runner.query('ANALYZE field_mappings');
      const before = new Date(Date.now() - 90 * 24 * 60 * 60 * 1000);
      // The window of the last 100 of them: 900 such runs before it.
      const [after] = (await runner.query(
        `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at, id FROM export_runs WHERE created_at < $1 ORDER BY created_at, id OFFSET 899 LIMIT 1`,
        [before],
      )) as { created_at: string; id: string }[];
      const params = [before, LIMIT, after.created_at, after.id];
      const window = (await runner.query(EXPORT_RUN_WINDOW, params)) as { prunable: boolean }[];
      expect(window.map((run) => run.prunable)).toEqual(Array(LIMIT).fill(false));
      const [{ 'QUERY PLAN': plan }] = (await runner.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${EXPORT_RUN_WINDOW}`, params)) as { 'QUERY PLAN': { Plan: PlanNode }[] }[];
      // Each run: itself, the run before it, and for each of its 4 versions the run before again (which used it, or the version it replaced).
      expect(rowsRead(plan[0].Plan)).toBeLessThan(20 * LIMIT);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });
});

/**
 * BACKLOG delivered runs, `days` old a second apart (in creation order), copies of the templates in
 * turn (each in its template's config), every other copy of a template without its last mapping
 * version; two delivery rows each; then ANALYZE.
 */
async function addBacklog(runner: QueryRunner, templates: string[], days: number): Promise<void> {
  await runner.query(
    `WITH runs AS (
       INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by, created_at)
       SELECT e.organization_id, e.integration_id, 'delivered', e.started_at, e.finished_at, 2, 0,
              CASE WHEN (n / cardinality($1::uuid[])) % 2 = 0 THEN e.mappings_used ELSE e.mappings_used - (jsonb_array_length(e.mappings_used) - 1) END,
              e.result, e.created_by, now() - make_interval(days => $2) + make_interval(secs => n)
       FROM generate_series(1, $3) AS n JOIN export_runs e ON e.id = ($1::uuid[])[1 + n % cardinality($1::uuid[])]
       ORDER BY n
       RETURNING id, organization_id
     )
     INSERT INTO export_run_rows (export_run_id, index, organization_id, status, external_id)
     SELECT id, i, organization_id, 'delivered', 'x' FROM runs, generate_series(0, 1) AS i`,
    [templates, days, BACKLOG],
  );
  await runner.query('ANALYZE export_runs');
  await runner.query('ANALYZE export_run_rows');
}

type Statement = 'window' | 'rows' | 'runs';

/**
 * EXPLAIN ANALYZE of the first window, then of a batch of its rows and of the runs that emptied,
 * the deletions undone after (a savepoint): the plans and the rows each read.
 */
async function explainBatch(runner: QueryRunner): Promise<{ plans: Record<Statement, PlanNode>; read: Record<Statement, number> }> {
  const before = new Date(Date.now() - 90 * 24 * 60 * 60 * 1000);
  const explain = async (sql: string, params: unknown[]) => {
    const [{ 'QUERY PLAN': plan }] = (await runner.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params)) as { 'QUERY PLAN': { Plan: PlanNode }[] }[];
    return plan[0].Plan;
  };
  const window = (await runner.query(EXPORT_RUN_WINDOW, [before, LIMIT, ...FIRST_POSITION])) as { id: string; prunable: boolean }[];
  expect(window).toHaveLength(LIMIT);
  const prunable = window.filter((run) => run.prunable).map((run) => run.id);
  expect(prunable).toHaveLength(LIMIT);
  await runner.query('SAVEPOINT batch');
  try {
    const plans = {
      window: await explain(EXPORT_RUN_WINDOW, [before, LIMIT, ...FIRST_POSITION]),
      rows: await explain(DELETE_EXPORT_RUN_ROWS, [prunable, before, LIMIT]),
      runs: await explain(DELETE_EXPORT_RUNS, [prunable, before]),
    };
    return { plans, read: { window: rowsRead(plans.window), rows: rowsRead(plans.rows), runs: rowsRead(plans.runs) } };
  } finally {
    await runner.query('ROLLBACK TO SAVEPOINT batch');
  }
}
