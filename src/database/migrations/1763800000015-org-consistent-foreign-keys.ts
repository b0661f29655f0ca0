import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every foreign key between tenant tables includes the organization: a child row refers to its
 * parent by (organization_id, id), so the database itself refuses a row of one organization that
 * points at another's (a query missing its organization filter would otherwise mix tenants
 * silently). The parents get UNIQUE (organization_id, id); integration_configs' index on
 * organization_id alone is then redundant and goes. The keys keep their names and ON DELETE
 * CASCADE: docs/adr/0004-org-consistent-foreign-keys.md.
 *
 * Rows that already point across organizations stop the migration before it changes anything,
 * with their tables named: they are a bug's leftovers to look at, not to delete here.
 *
 * Outside a transaction, so that no step holds its lock for longer than itself: the keys' indexes
 * are built CONCURRENTLY; each foreign key is swapped in one ALTER TABLE (old dropped, new added
 * NOT VALID: enforced at once for writes, metadata only) and then validated, a scan that lets
 * writes go on. The swaps need both tables' ACCESS EXCLUSIVE lock for a moment; waiting for it
 * behind a long transaction would stall every reader queued behind the wait, so each try gives up
 * after LOCK_TIMEOUT_MS and tries again. Each step first looks whether it is done, so a run cut
 * short is run again.
 */
export class OrgConsistentForeignKeys1763800000015 implements MigrationInterface {
  name = 'OrgConsistentForeignKeys1763800000015';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await refuseCrossOrganizationRows(q);
    for (const { table, name } of KEYS) {
      if (await constraintExists(q, table, name)) continue;
      await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
      await q.query(`CREATE UNIQUE INDEX CONCURRENTLY ${name} ON ${table} (organization_id, id)`);
      await briefly(q, table, `ALTER TABLE ${table} ADD CONSTRAINT ${name} UNIQUE USING INDEX ${name}`);
    }
    // Its one column leads uq_integration_configs_org_id now (and idx_integration_configs_org_type).
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS idx_integration_configs_org_id`);
    for (const key of FOREIGN_KEYS) await swapForeignKey(q, key, `(organization_id, ${key.column}) REFERENCES ${key.parent} (organization_id, id)`, 2);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const key of [...FOREIGN_KEYS].reverse()) await swapForeignKey(q, key, `(${key.column}) REFERENCES ${key.parent} (id)`, 1);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS idx_integration_configs_org_id`);
    await q.query(`CREATE INDEX CONCURRENTLY idx_integration_configs_org_id ON integration_configs (organization_id)`);
    for (const { table, name } of [...KEYS].reverse()) await briefly(q, table, `ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${name}`);
  }
}

interface ForeignKey {
  table: string;
  name: string;
  column: string;
  parent: string;
  /** How a row of `table` is named in the refusal (export_run_rows has no `id` of its own). */
  row: string;
}

/** The parents' (organization_id, id) keys. */
const KEYS = [
  { table: 'integration_configs', name: 'uq_integration_configs_org_id' },
  { table: 'field_mappings', name: 'uq_field_mappings_org_id' },
  { table: 'export_runs', name: 'uq_export_runs_org_id' },
];

/** Every reference from a tenant table to another; all ON DELETE CASCADE, before and after. */
const FOREIGN_KEYS: ForeignKey[] = [
  { table: 'field_mappings', name: 'fk_field_mappings_integration', column: 'integration_id', parent: 'integration_configs', row: `c.id::text` },
  { table: 'field_mappings', name: 'fk_field_mappings_previous_version', column: 'previous_version_id', parent: 'field_mappings', row: `c.id::text` },
  { table: 'sync_runs', name: 'fk_sync_runs_integration', column: 'integration_id', parent: 'integration_configs', row: `c.id::text` },
  { table: 'webhook_events', name: 'fk_webhook_events_integration', column: 'integration_id', parent: 'integration_configs', row: `c.id::text` },
  { table: 'export_runs', name: 'fk_export_runs_integration', column: 'integration_id', parent: 'integration_configs', row: `c.id::text` },
  { table: 'export_run_rows', name: 'fk_export_run_rows_run', column: 'export_run_id', parent: 'export_runs', row: `c.export_run_id || '/' || c.index` },
];

/** How long one try of a metadata-only change waits for its lock, and how many tries it makes. */
export const LOCK_TIMEOUT_MS = 2000;
const LOCK_TRIES = 30;

/** Runs `sql` (a moment's ACCESS EXCLUSIVE lock on `table`, and its parent's), giving way to a long transaction rather than stalling the readers behind it. */
async function briefly(q: QueryRunner, table: string, sql: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    await q.startTransaction();
    try {
      await q.query(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
      await q.query(sql);
      await q.commitTransaction();
      return;
    } catch (error) {
      await q.rollbackTransaction();
      // 55P03 lock_not_available: the timeout.
      if ((error as { driverError?: { code?: string } }).driverError?.code !== '55P03') throw error;
      if (tries >= LOCK_TRIES) {
        throw new Error(
          `OrgConsistentForeignKeys1763800000015: ${table} stayed locked by another transaction through ${LOCK_TRIES} tries of ${LOCK_TIMEOUT_MS} ms; migrate again (what is done stays done)`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Replaces `key` by `FOREIGN KEY <definition>` (of `columns` columns), unless it is that already; then validates it. */
async function swapForeignKey(q: QueryRunner, key: ForeignKey, definition: string, columns: number): Promise<void> {
  const [current] = (await q.query(`SELECT cardinality(conkey) AS columns FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2`, [key.table, key.name])) as {
    columns: number;
  }[];
  if (current?.columns !== columns) {
    // One statement: the table is never without its key.
    await briefly(q, key.table, `ALTER TABLE ${key.table} DROP CONSTRAINT IF EXISTS ${key.name}, ADD CONSTRAINT ${key.name} FOREIGN KEY ${definition} ON DELETE CASCADE NOT VALID`);
  }
  await q.query(`ALTER TABLE ${key.table} VALIDATE CONSTRAINT ${key.name}`);
}

async function constraintExists(q: QueryRunner, table: string, name: string): Promise<boolean> {
  return ((await q.query(`SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2`, [table, name])) as unknown[]).length > 0;
}

/** Throws, naming each table and a few of its rows, when any row refers to a row of another organization. */
async function refuseCrossOrganizationRows(q: QueryRunner): Promise<void> {
  const found: string[] = [];
  for (const key of FOREIGN_KEYS) {
    const rows = (await q.query(
      `SELECT count(*) OVER ()::int AS total, ${key.row} AS row FROM ${key.table} c JOIN ${key.parent} p ON p.id = c.${key.column}
       WHERE p.organization_id <> c.organization_id ORDER BY 2 LIMIT 3`,
    )) as { total: number; row: string }[];
    if (rows.length) found.push(`${key.table}.${key.column} → ${key.parent}: ${rows[0].total} row(s), e.g. ${rows.map((r) => r.row).join(', ')}`);
  }
  if (found.length) {
    throw new Error(
      `OrgConsistentForeignKeys1763800000015: rows refer to a row of another organization (nothing was changed; correct or remove them, then migrate again):\n  ${found.join('\n  ')}`,
    );
  }
}
