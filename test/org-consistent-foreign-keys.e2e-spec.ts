import { randomUUID } from 'node:crypto';
import { Client, type DatabaseError } from 'pg';

// Every foreign key between tenant tables includes the organization (migration 1763800000015,
// docs/adr/0004-org-consistent-foreign-keys.md): whatever a query forgets, the database refuses a
// row of one organization that points at another's. Written here with SQL, past the service,
// as such a bug would.
describe('foreign keys keep each row in its parent’s organization (SQL, real database)', () => {
  let db: Client;
  beforeAll(async () => {
    db = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
  });
  afterAll(() => db.end());

  const one = async (sql: string, values: unknown[] = []) => (await db.query(sql, values)).rows[0] as Record<string, string>;
  const refusal = (sql: string, values: unknown[]) =>
    db.query(sql, values).then(
      () => undefined,
      (error: DatabaseError) => ({ code: error.code, constraint: error.constraint }),
    );

  /** Organization `org`'s config, one of its mappings and one of its export runs. */
  async function parents(org: string) {
    const config = await one(`INSERT INTO integration_configs (organization_id, integration_type, display_name, created_by) VALUES ($1, 'xledger', 'X', $1) RETURNING id`, [org]);
    const mapping = await one(
      `INSERT INTO field_mappings (organization_id, integration_id, source_field, target_field, transform_type, display_label, sort_order, lineage_id)
       VALUES ($1, $2, 'expense_amount', 'Amount', 'direct', 'Amount', 0, gen_random_uuid()) RETURNING id, lineage_id`,
      [org, config.id],
    );
    const run = await one(
      `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by)
       VALUES ($1, $2, 'queued', now(), now(), 1, 0, '[]', '{}', $1) RETURNING id`,
      [org, config.id],
    );
    return { config: config.id, mapping: mapping.id, lineage: mapping.lineage_id, run: run.id };
  }

  /** Each child table's insert of a row of `org` under the given parents. */
  const children = (org: string, p: Awaited<ReturnType<typeof parents>>): [string, string, unknown[]][] => [
    [
      'fk_field_mappings_integration',
      `INSERT INTO field_mappings (organization_id, integration_id, source_field, target_field, transform_type, display_label, sort_order, lineage_id)
       VALUES ($1, $2, 'expense_date', 'Date', 'direct', 'Date', 1, gen_random_uuid())`,
      [org, p.config],
    ],
    [
      'fk_field_mappings_previous_version',
      // Its config is the org's own: only the previous version is another's.
      `INSERT INTO field_mappings (organization_id, integration_id, source_field, target_field, transform_type, display_label, sort_order, lineage_id, version, previous_version_id)
       SELECT $1, (SELECT id FROM integration_configs WHERE organization_id = $1 LIMIT 1), 'expense_note', 'Note', 'direct', 'Amount', 0, $3, 2, $2`,
      [org, p.mapping, p.lineage],
    ],
    [
      'fk_sync_runs_integration',
      `INSERT INTO sync_runs (organization_id, integration_id, status, started_at, finished_at, recorded_by) VALUES ($1, $2, 'success', now(), now(), $1)`,
      [org, p.config],
    ],
    [
      'fk_webhook_events_integration',
      `INSERT INTO webhook_events (organization_id, integration_id, webhook_id, signature_scheme, payload) VALUES ($1, $2, $3, 'standard_webhooks', '\\x7b7d')`,
      [org, p.config, `msg_${randomUUID()}`],
    ],
    [
      'fk_export_runs_integration',
      `INSERT INTO export_runs (organization_id, integration_id, status, started_at, finished_at, row_count, skipped_count, mappings_used, result, created_by)
       VALUES ($1, $2, 'completed', now(), now(), 0, 0, '[]', '{}', $1)`,
      [org, p.config],
    ],
    ['fk_export_run_rows_run', `INSERT INTO export_run_rows (export_run_id, index, organization_id, status) VALUES ($2, 0, $1, 'pending')`, [org, p.run]],
  ];

  it("refuses a row of organization B under organization A's parent (23503, the key named), in every child table", async () => {
    const [orgA, orgB] = [randomUUID(), randomUUID()];
    const a = await parents(orgA);
    await parents(orgB);
    const refused: Record<string, unknown> = {};
    for (const [constraint, sql, values] of children(orgB, a)) refused[constraint] = await refusal(sql, values);
    expect(refused).toEqual(Object.fromEntries(children(orgB, a).map(([constraint]) => [constraint, { code: '23503', constraint }])));
    expect(await one(`SELECT count(*)::int AS n FROM field_mappings WHERE organization_id = $1`, [orgB])).toEqual({ n: 1 });
  });

  it('takes the same rows under their own organization’s parents, and a config’s deletion still takes them all with it', async () => {
    const org = randomUUID();
    const own = await parents(org);
    for (const [constraint, sql, values] of children(org, own)) expect([constraint, await refusal(sql, values)]).toEqual([constraint, undefined]);
    await db.query(`DELETE FROM integration_configs WHERE organization_id = $1`, [org]);
    const left = await one(
      `SELECT (SELECT count(*) FROM field_mappings WHERE organization_id = $1) + (SELECT count(*) FROM sync_runs WHERE organization_id = $1)
        + (SELECT count(*) FROM webhook_events WHERE organization_id = $1) + (SELECT count(*) FROM export_runs WHERE organization_id = $1)
        + (SELECT count(*) FROM export_run_rows WHERE organization_id = $1) AS n`,
      [org],
    );
    expect(Number(left.n)).toBe(0);
  });

  it('refuses moving a child, or a parent that has children, to another organization', async () => {
    const [orgA, orgB] = [randomUUID(), randomUUID()];
    const a = await parents(orgA);
    expect(await refusal(`UPDATE field_mappings SET organization_id = $2 WHERE id = $1`, [a.mapping, orgB])).toEqual({
      code: '23503',
      constraint: 'fk_field_mappings_integration',
    });
    expect(await refusal(`UPDATE export_runs SET organization_id = $2 WHERE id = $1`, [a.run, orgB])).toEqual({ code: '23503', constraint: 'fk_export_runs_integration' });
    expect(await refusal(`UPDATE integration_configs SET organization_id = $2 WHERE id = $1`, [a.config, orgB])).toMatchObject({ code: '23503' });
  });
});
