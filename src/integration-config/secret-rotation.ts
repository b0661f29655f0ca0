import type { DataSource } from 'typeorm';
import type { SecretCipher } from '../crypto/secret-cipher';
import { INTEGRATION_CONFIGS_TABLE, SECRET_COLUMNS } from './integration-config.entity';

// Re-encrypts every stored secret under the active key, in batches, each batch in its own
// transaction. Rows are picked by "some envelope does not name the active key", so a run that
// was stopped halfway simply continues where it was, and a finished run finds nothing to do.
// While it runs the service keeps serving: old and new keys both decrypt.

export interface RotationProgress {
  done: number;
  total: number;
}

export interface RotationOptions {
  batchSize?: number;
  dryRun?: boolean;
  onProgress?: (progress: RotationProgress) => void;
  /** Pause between batches (ms): gentler on a busy database. */
  pauseMs?: number;
}

export interface RotationReport {
  activeKeyId: string;
  /** Values per key id before the run (dry run) or still left after it. */
  valuesByKey: Record<string, number>;
  rowsRotated: number;
  valuesRotated: number;
}

const envelopeKeySql = (column: string) => `split_part(${column}, ':', 3)`;

function notActiveClause(): string {
  return SECRET_COLUMNS.map((c) => `(${c} IS NOT NULL AND ${envelopeKeySql(c)} <> $1)`).join(' OR ');
}

/** How many stored values use each key id. */
export async function countValuesByKey(dataSource: DataSource): Promise<Record<string, number>> {
  const unions = SECRET_COLUMNS.map((c) => `SELECT ${envelopeKeySql(c)} AS kid FROM ${INTEGRATION_CONFIGS_TABLE} WHERE ${c} IS NOT NULL`).join(' UNION ALL ');
  const rows: { kid: string; n: number }[] = await dataSource.query(`SELECT kid, count(*)::int AS n FROM (${unions}) v GROUP BY kid ORDER BY kid`);
  return Object.fromEntries(rows.map((r) => [r.kid, r.n]));
}

export async function rotateSecrets(dataSource: DataSource, cipher: SecretCipher, options: RotationOptions = {}): Promise<RotationReport> {
  const active = cipher.activeKeyId;
  const batchSize = options.batchSize ?? 100;
  if (options.dryRun) return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated: 0, valuesRotated: 0 };

  const [{ total }] = await dataSource.query(`SELECT count(*)::int AS total FROM ${INTEGRATION_CONFIGS_TABLE} WHERE ${notActiveClause()}`, [active]);
  let rowsRotated = 0;
  let valuesRotated = 0;
  options.onProgress?.({ done: 0, total });
  for (;;) {
    const rotatedInBatch = await dataSource.transaction(async (manager) => {
      // SKIP LOCKED: a row a request is writing right now is taken by a later batch.
      const rows: Record<string, string | null>[] = await manager.query(
        `SELECT id, ${SECRET_COLUMNS.join(', ')} FROM ${INTEGRATION_CONFIGS_TABLE} WHERE ${notActiveClause()} ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [active, batchSize],
      );
      for (const row of rows) {
        const id = row['id'] as string;
        const sets: string[] = [];
        const params: unknown[] = [id];
        for (const column of SECRET_COLUMNS) {
          const envelope = row[column];
          if (!envelope || !cipher.needsRotation(envelope)) continue;
          params.push(cipher.reencrypt(envelope, { table: INTEGRATION_CONFIGS_TABLE, column, rowId: id }));
          sets.push(`${column} = $${params.length}`);
        }
        // Not a change of the config: no new revision, no updated_at.
        await manager.query(`UPDATE ${INTEGRATION_CONFIGS_TABLE} SET ${sets.join(', ')} WHERE id = $1`, params);
        valuesRotated += sets.length;
      }
      return rows.length;
    });
    if (rotatedInBatch === 0) break;
    rowsRotated += rotatedInBatch;
    options.onProgress?.({ done: Math.min(rowsRotated, total), total });
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated, valuesRotated };
}
