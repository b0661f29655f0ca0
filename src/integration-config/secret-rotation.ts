import type { DataSource } from 'typeorm';
import { ALERT_ENDPOINTS_TABLE, alertSecretLocation } from '../alerts/alert-endpoint.entity';
import { AlertEndpointRepository } from '../alerts/alert-endpoint.repository';
import { SecretDecryptionError, type SecretCipher, type SecretDecryptionReason, type SecretLocation } from '../crypto/secret-cipher';
import { TransactionRunner, type Transaction } from '../database/transaction';
import { configSecretLocation, INTEGRATION_CONFIGS_TABLE, SECRET_COLUMNS, type SecretColumn } from './integration-config.entity';
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
  /** Values no key of the keyring opens, left as they are (where, and why; never the value). */
  unreadable: UnreadableValue[];
}

export interface UnreadableValue {
  table: string;
  rowId: string;
  column: string;
  reason: SecretDecryptionReason;
}

/** Where each value no key opens is (never what it holds), one per line. */
export function describeUnreadable(values: readonly UnreadableValue[]): string {
  return values.map((v) => `\n  ${v.table} ${v.rowId} ${v.column} (${v.reason})`).join('');
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
  if (options.dryRun) return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated: 0, valuesRotated: 0, unreadable: [] };

  // The alert endpoints' signing secrets too: a retired key must not leave an alert unsendable.
  const alerts = new AlertEndpointRepository(dataSource);
  const total = (await configs.countRowsWithSecretsNotUnder(active)) + (await alerts.countRowsWithSecretNotUnder(active));
  // Rows taken (the progress: a row whose only values no key opens is done with too), and those changed.
  let rowsTaken = 0;
  let rowsRotated = 0;
  let valuesRotated = 0;
  options.onProgress?.({ done: 0, total });
  const counted = (done: BatchDone) => {
    rowsTaken += done.rows;
    rowsRotated += done.rowsChanged;
    valuesRotated += done.values;
    options.onProgress?.({ done: Math.min(rowsTaken, total), total });
  };
  // A value no key opens is left as it is and its row passed over from then on: one bad row must not
  // stop every other from being rotated (and the old key from being retired once it is mended).
  const unreadable: UnreadableValue[] = [];
  /** The value under the active key (itself when it is already), or null when no key opens it. */
  const reencrypted = (envelope: string, at: SecretLocation): string | null => {
    try {
      // Inside the try: reading the key id of a malformed envelope throws too.
      return cipher.needsRotation(envelope) ? cipher.reencrypt(envelope, at) : envelope;
    } catch (error) {
      if (!(error instanceof SecretDecryptionError)) throw error;
      unreadable.push({ table: at.table, rowId: at.rowId, column: at.column, reason: error.reason });
      return null;
    }
  };
  // A row this run re-encrypted that is under another key again was written by an instance whose
  // active key is another: the run would chase it forever, so it stops and says why.
  const rotated = new Set<string>();
  const rotatedOnce = (table: string, rowId: string) => {
    const key = `${table}:${rowId}`;
    if (rotated.has(key)) {
      throw new Error(
        `${table} ${rowId} was re-encrypted by this run and is under another key again: an instance is writing with another active key. Give every instance ENCRYPTION_ACTIVE_KEY_ID=${active} (redeploy), then run keys:rotate again`,
      );
    }
    rotated.add(key);
  };
  // Rows passed over from then on: those holding a value no key opens.
  const skipped = (table: string) => unreadable.filter((value) => value.table === table).map((value) => value.rowId);
  try {
    await inBatches(
      transactions,
      async (tx) => {
        const batch = configs.in(tx);
        const rows = await batch.lockRowsWithSecretsNotUnder(active, batchSize, skipped(INTEGRATION_CONFIGS_TABLE));
        let values = 0;
        let rowsChanged = 0;
        for (const row of rows) {
          rotatedOnce(INTEGRATION_CONFIGS_TABLE, row.id);
          const envelopes: Partial<Record<SecretColumn, string>> = {};
          for (const column of SECRET_COLUMNS) {
            const envelope = row[column];
            if (!envelope) continue;
            const next = reencrypted(envelope, configSecretLocation(row.id, column));
            if (next !== null && next !== envelope) envelopes[column] = next;
          }
          await batch.updateSecretEnvelopes(row.id, envelopes);
          const changed = Object.keys(envelopes).length;
          values += changed;
          if (changed > 0) rowsChanged += 1;
        }
        return { rows: rows.length, rowsChanged, values };
      },
      () => configs.countRowsWithSecretsNotUnder(active, skipped(INTEGRATION_CONFIGS_TABLE)),
      counted,
      options.pauseMs,
    );
    await inBatches(
      transactions,
      async (tx) => {
        const batch = alerts.in(tx);
        const rows = await batch.lockRowsWithSecretNotUnder(active, batchSize, skipped(ALERT_ENDPOINTS_TABLE));
        let values = 0;
        for (const row of rows) {
          rotatedOnce(ALERT_ENDPOINTS_TABLE, row.id);
          const next = reencrypted(row.signing_secret_encrypted, alertSecretLocation(row.id));
          if (next === null) continue;
          await batch.updateSecretById(row.id, next);
          values += 1;
        }
        // One value a row: each changed is a row changed.
        return { rows: rows.length, rowsChanged: values, values };
      },
      () => alerts.countRowsWithSecretNotUnder(active, skipped(ALERT_ENDPOINTS_TABLE)),
      counted,
      options.pauseMs,
    );
  } catch (error) {
    // Stopped short: the values no key opens found so far are said all the same.
    if (unreadable.length === 0 || !(error instanceof Error)) throw error;
    throw new Error(`${error.message}. Also left as they are, no key of ENCRYPTION_KEYS opening them: ${describeUnreadable(unreadable)}`, { cause: error });
  }
  return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated, valuesRotated, unreadable };
}

/** How long rows locked by writes in progress are waited for before the run gives up (run it again). */
const LOCKED_ROWS_WAIT_MS = 30_000;

/**
 * Batches until nothing is left under another key. A batch takes only unlocked rows (SKIP
 * LOCKED: a config being written is not waited for); one that finds nothing to take while rows
 * are left means they are locked right now, so it looks again shortly rather than stopping short.
 */
/** What a batch did: the rows it took, those it changed, the values it re-encrypted. */
interface BatchDone {
  rows: number;
  rowsChanged: number;
  values: number;
}

export async function inBatches(
  transactions: TransactionRunner,
  batch: (tx: Transaction) => Promise<BatchDone>,
  left: () => Promise<number>,
  counted: (done: BatchDone) => void,
  pauseMs?: number,
): Promise<void> {
  // From the first batch that took nothing: a long run is not a long wait.
  let deadline: number | null = null;
  for (;;) {
    const done = await transactions.run(batch);
    if (done.rows > 0) {
      deadline = null;
      counted(done);
      if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      continue;
    }
    const remaining = await left();
    if (remaining === 0) return;
    deadline ??= Date.now() + LOCKED_ROWS_WAIT_MS;
    if (Date.now() > deadline) throw new Error(`${remaining} row(s) stayed locked by other transactions for ${LOCKED_ROWS_WAIT_MS / 1000} s: run keys:rotate again`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
