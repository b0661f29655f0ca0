import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A run's rows keep the order their `output` keys were exported in (the mappings' sort_order at
 * that time): jsonb stores object keys sorted by length, so `result` and the delivery rows'
 * `output` become json, which stores the text as written. Sorting again on read would be wrong:
 * sort_order stays editable after an export, and the stored run must answer what it sent.
 *
 * Runs stored before this migration lost their order in jsonb; their outputs are put back in the
 * order of the mapping versions they used (`mappings_used`), by those versions' sort_order
 * now: the best that is left of it.
 */
export class ExportRowOrder1763800000009 implements MigrationInterface {
  name = 'ExportRowOrder1763800000009';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_runs ALTER COLUMN result TYPE json USING result::json`);
    await q.query(`ALTER TABLE export_run_rows ALTER COLUMN output TYPE json USING output::json`);
    await q.query(REORDER_STORED_RESULTS, [null]);
    await q.query(REORDER_STORED_ROW_OUTPUTS, [null]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE export_run_rows ALTER COLUMN output TYPE jsonb USING output::jsonb`);
    await q.query(`ALTER TABLE export_runs ALTER COLUMN result TYPE jsonb USING result::jsonb`);
  }
}

// `output` (jsonb) of run `r` as json, its keys in the order of the run's mapping versions (sort_order,
// then source_field: the compiler's order); a key no used mapping targets goes last.
const ORDERED_OUTPUT = (output: string) => `(
  SELECT coalesce(json_object_agg(o.key, o.value ORDER BY p.position NULLS LAST, o.key COLLATE "C"), '{}'::json)
  FROM jsonb_each(${output}) o
  LEFT JOIN (
    SELECT m.target_field, min(m.position) AS position
    FROM (
      SELECT fm.target_field, row_number() OVER (ORDER BY fm.sort_order, fm.source_field COLLATE "C") AS position
      FROM jsonb_array_elements(r.mappings_used) u
      JOIN field_mappings fm ON fm.organization_id = r.organization_id AND fm.id = (u->>'mapping_id')::uuid
    ) m
    GROUP BY m.target_field
  ) p ON p.target_field = o.key
)`;

/** Rewrites stored results (every run, or the runs of `$1`) with each row's output keys in mapping order. */
export const REORDER_STORED_RESULTS = `
  UPDATE export_runs r SET result = json_build_object(
    'rows', (
      SELECT coalesce(json_agg(json_build_object('index', e.row->'index', 'claim_id', e.row->'claim_id', 'output', ${ORDERED_OUTPUT(`e.row->'output'`)}) ORDER BY e.n), '[]'::json)
      FROM jsonb_array_elements(r.result::jsonb->'rows') WITH ORDINALITY AS e(row, n)
    ),
    'skipped', (
      SELECT coalesce(json_agg(json_build_object('index', s.row->'index', 'claim_id', s.row->'claim_id', 'reason', s.row->'reason') ORDER BY s.n), '[]'::json)
      FROM jsonb_array_elements(r.result::jsonb->'skipped') WITH ORDINALITY AS s(row, n)
    ),
    'warnings', r.result->'warnings'
  )
  WHERE ($1::uuid[] IS NULL OR r.id = ANY($1::uuid[]))`;

/** The same for the delivery rows' output. */
export const REORDER_STORED_ROW_OUTPUTS = `
  UPDATE export_run_rows x SET output = ${ORDERED_OUTPUT(`x.output::jsonb`)}
  FROM export_runs r
  WHERE r.id = x.export_run_id AND x.output IS NOT NULL AND ($1::uuid[] IS NULL OR r.id = ANY($1::uuid[]))`;
