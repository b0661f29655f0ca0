import type { DataSource } from 'typeorm';
import { alertSecretLocation } from '../alerts/alert-endpoint.entity';
import { AlertEndpointRepository } from '../alerts/alert-endpoint.repository';
import type { SecretCipher } from '../crypto/secret-cipher';
import { TransactionRunner, type Transaction } from '../database/transaction';
import { configSecretLocation, SECRET_COLUMNS, type SecretColumn } from './integration-config.entity';
import { IntegrationConfigRepository } from './integration-config.repository';

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

/** How many stored values use each key id. */
export async function countValuesByKey(dataSource: DataSource): Promise<Record<string, number>> {
  const [configs, alerts] = await Promise.all([new IntegrationConfigRepository(dataSource).countSecretsByKey(), new AlertEndpointRepository(dataSource).countSecretsByKey()]);
  const counts = { ...configs };
  for (const [kid, n] of Object.entries(alerts)) counts[kid] = (counts[kid] ?? 0) + n;
  return counts;
}

export async function rotateSecrets(dataSource: DataSource, cipher: SecretCipher, options: RotationOptions = {}): Promise<RotationReport> {
  const configs = new IntegrationConfigRepository(dataSource);
  const transactions = new TransactionRunner(dataSource);
  const active = cipher.activeKeyId;
  const batchSize = options.batchSize ?? 100;
  if (options.dryRun) return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated: 0, valuesRotated: 0 };

  // The alert endpoints' signing secrets too: a retired key must not leave an alert unsendable.
  const alerts = new AlertEndpointRepository(dataSource);
  const total = (await configs.countRowsWithSecretsNotUnder(active)) + (await alerts.countRowsWithSecretNotUnder(active));
  let rowsRotated = 0;
  let valuesRotated = 0;
  options.onProgress?.({ done: 0, total });
  const counted = (rows: number, values: number) => {
    rowsRotated += rows;
    valuesRotated += values;
    options.onProgress?.({ done: Math.min(rowsRotated, total), total });
  };
  await inBatches(
    transactions,
    async (tx) => {
      const batch = configs.in(tx);
      const rows = await batch.lockRowsWithSecretsNotUnder(active, batchSize);
      let values = 0;
      for (const row of rows) {
        const envelopes: Partial<Record<SecretColumn, string>> = {};
        for (const column of SECRET_COLUMNS) {
          const envelope = row[column];
          if (envelope && cipher.needsRotation(envelope)) envelopes[column] = cipher.reencrypt(envelope, configSecretLocation(row.id, column));
        }
        await batch.updateSecretEnvelopes(row.id, envelopes);
        values += Object.keys(envelopes).length;
      }
      return { rows: rows.length, values };
    },
    () => configs.countRowsWithSecretsNotUnder(active),
    counted,
    options.pauseMs,
  );
  await inBatches(
    transactions,
    async (tx) => {
      const batch = alerts.in(tx);
      const rows = await batch.lockRowsWithSecretNotUnder(active, batchSize);
      for (const row of rows) {
        await batch.updateSecretById(row.id, cipher.reencrypt(row.signing_secret_encrypted, alertSecretLocation(row.id)));
      }
      return { rows: rows.length, values: rows.length };
    },
    () => alerts.countRowsWithSecretNotUnder(active),
    counted,
    options.pauseMs,
  );
  return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated, valuesRotated };
}

/** How long rows locked by writes in progress are waited for before the run gives up (run it again). */
const LOCKED_ROWS_WAIT_MS = 30_000;

/**
 * Batches until nothing is left under another key. A batch takes only unlocked rows (SKIP
 * LOCKED: a config being written is not waited for); one that finds nothing to take while rows
 * are left means they are locked right now, so it looks again shortly rather than stopping short.
 */
async function inBatches(
  transactions: TransactionRunner,
  batch: (tx: Transaction) => Promise<{ rows: number; values: number }>,
  left: () => Promise<number>,
  counted: (rows: number, values: number) => void,
  pauseMs?: number,
): Promise<void> {
  const deadline = Date.now() + LOCKED_ROWS_WAIT_MS;
  for (;;) {
    const done = await transactions.run(batch);
    if (done.rows > 0) {
      counted(done.rows, done.values);
      if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      continue;
    }
    const remaining = await left();
    if (remaining === 0) return;
    if (Date.now() > deadline) throw new Error(`${remaining} row(s) stayed locked by other transactions for ${LOCKED_ROWS_WAIT_MS / 1000} s: run keys:rotate again`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
