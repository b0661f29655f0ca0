// The schema the migrations build, written out as DDL-like text in a fixed order: what TypeORM's
// schema diff does not look at (CHECK bodies, index definitions with their predicates and
// expressions, triggers and their functions, foreign keys' columns and actions, column defaults)
// as well as what it does. Compared with test/schema.snapshot.sql (test/schema-drift.e2e-spec.ts)
// and across a revert (test/migrations.e2e-spec.ts). The public schema only: pg-boss's tables
// (schema pgboss) are its own, and the migrations table is TypeORM's bookkeeping.

/** Anything that runs SQL: a DataSource, a QueryRunner. */
interface Queryable {
  query(sql: string): Promise<unknown>;
}

const EXCLUDED_TABLES = `('migrations', 'typeorm_metadata')`;
const PUBLIC_TABLES = `c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname NOT IN ${EXCLUDED_TABLES}`;
// Not the extensions' own objects.
const NOT_AN_EXTENSION_MEMBER = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '${catalog}'::regclass AND x.objid = ${oid} AND x.deptype = 'e')`;

/** The schema of the database `db` is connected to, as text. */
export async function schemaSnapshot(db: Queryable): Promise<string> {
  const rows = async <T>(sql: string) => (await db.query(sql)) as T[];
  const out: string[] = ['-- The schema the migrations build (tests compare it; it is not run). Regenerate: see docs/testing.md.', ''];

  for (const t of await rows<{ name: string; labels: string[] }>(`
    SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = 'public'::regnamespace AND ${NOT_AN_EXTENSION_MEMBER('pg_type', 't.oid')}
    GROUP BY t.typname ORDER BY t.typname COLLATE "C"`)) {
    out.push(`CREATE TYPE ${t.name} AS ENUM (${t.labels.map((label) => `'${label}'`).join(', ')});`);
  }
  for (const d of await rows<{ name: string; definition: string }>(`
    SELECT t.typname AS name, format_type(t.typbasetype, t.typtypmod) || coalesce(' DEFAULT ' || t.typdefault, '') || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END ||
      coalesce((SELECT string_agg(' CONSTRAINT ' || k.conname || ' ' || pg_get_constraintdef(k.oid), '' ORDER BY k.conname COLLATE "C") FROM pg_constraint k WHERE k.contypid = t.oid), '') AS definition
    FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'd' AND ${NOT_AN_EXTENSION_MEMBER('pg_type', 't.oid')}
    ORDER BY t.typname COLLATE "C"`)) {
    out.push(`CREATE DOMAIN ${d.name} AS ${d.definition};`);
  }
  for (const f of await rows<{ definition: string }>(`
    SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p') AND ${NOT_AN_EXTENSION_MEMBER('pg_proc', 'p.oid')}
    ORDER BY p.proname COLLATE "C", pg_get_function_identity_arguments(p.oid) COLLATE "C"`)) {
    out.push('', `${f.definition.trimEnd()};`);
  }

  const columns = await rows<{
    table: string;
    name: string;
    type: string;
    not_null: boolean;
    identity: string;
    generated: string;
    default: string | null;
    collation: string | null;
  }>(`
    SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, a.attidentity AS identity,
      a.attgenerated AS generated, pg_get_expr(d.adbin, d.adrelid) AS default,
      CASE WHEN a.attcollation <> ty.typcollation THEN (SELECT collname FROM pg_collation WHERE oid = a.attcollation) END AS collation
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid JOIN pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE ${PUBLIC_TABLES} AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname COLLATE "C", a.attnum`);
  // Not NOT NULL constraints (PostgreSQL 18 lists them here too): a column's nullability says it on every version.
  const constraints = await rows<{ table: string; line: string }>(`
    SELECT c.relname AS table, 'ALTER TABLE ' || c.relname || ' ADD CONSTRAINT ' || k.conname || ' ' || pg_get_constraintdef(k.oid) || ';' AS line
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE ${PUBLIC_TABLES} AND k.contype <> 'n'
    ORDER BY c.relname COLLATE "C", k.conname COLLATE "C"`);
  const indexes = await rows<{ table: string; line: string }>(`
    SELECT c.relname AS table, pg_get_indexdef(i.indexrelid) || ';' || CASE WHEN i.indisvalid THEN '' ELSE ' -- INVALID' END AS line
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE ${PUBLIC_TABLES}
    ORDER BY c.relname COLLATE "C", ic.relname COLLATE "C"`);
  const triggers = await rows<{ table: string; line: string }>(`
    SELECT c.relname AS table, pg_get_triggerdef(g.oid) || ';' || CASE g.tgenabled WHEN 'O' THEN '' ELSE ' -- ENABLED ' || g.tgenabled::text END AS line
    FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
    WHERE ${PUBLIC_TABLES} AND NOT g.tgisinternal
    ORDER BY c.relname COLLATE "C", g.tgname COLLATE "C"`);

  for (const table of [...new Set(columns.map((column) => column.table))]) {
    const definitions = columns
      .filter((column) => column.table === table)
      .map((column) =>
        [
          `  ${column.name} ${column.type}`,
          column.collation ? ` COLLATE "${column.collation}"` : '',
          column.not_null ? ' NOT NULL' : '',
          column.default !== null && column.generated !== 's' ? ` DEFAULT ${column.default}` : '',
          column.generated === 's' ? ` GENERATED ALWAYS AS (${column.default}) STORED` : '',
          column.identity === 'a' ? ' GENERATED ALWAYS AS IDENTITY' : column.identity === 'd' ? ' GENERATED BY DEFAULT AS IDENTITY' : '',
        ].join(''),
      );
    out.push('', `CREATE TABLE ${table} (`, definitions.join(',\n'), ');');
    for (const list of [constraints, indexes, triggers]) out.push(...list.filter((row) => row.table === table).map((row) => row.line));
  }

  for (const v of await rows<{ name: string; kind: string; definition: string }>(`
    SELECT c.relname AS name, c.relkind AS kind, pg_get_viewdef(c.oid) AS definition FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm') AND ${NOT_AN_EXTENSION_MEMBER('pg_class', 'c.oid')}
    ORDER BY c.relname COLLATE "C"`)) {
    out.push('', `CREATE ${v.kind === 'm' ? 'MATERIALIZED VIEW' : 'VIEW'} ${v.name} AS`, v.definition.trimEnd());
  }
  return `${out.join('\n')}\n`;
}
