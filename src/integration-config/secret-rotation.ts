import type { DataSource } from 'typeorm';
import { ALERT_ENDPOINTS_TABLE } from '../alerts/alert-endpoint.entity';
import { AlertEndpointRepository } from '../alerts/alert-endpoint.repository';
import type { SecretCipher } from '../crypto/secret-cipher';
import { TransactionRunner } from '../database/transaction';
import { INTEGRATION_CONFIGS_TABLE, SECRET_COLUMNS, type SecretColumn } from './integration-config.entity';
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

  const total = await configs.countRowsWithSecretsNotUnder(active);
  let rowsRotated = 0;
  let valuesRotated = 0;
  options.onProgress?.({ done: 0, total });
  for (;;) {
    const rotatedInBatch = await transactions.run(async (tx) => {
      const batch = configs.in(tx);
      const rows = await batch.lockRowsWithSecretsNotUnder(active, batchSize);
      for (const row of rows) {
        const envelopes: Partial<Record<SecretColumn, string>> = {};
        for (const column of SECRET_COLUMNS) {
          const envelope = row[column];
          if (envelope && cipher.needsRotation(envelope)) envelopes[column] = cipher.reencrypt(envelope, { table: INTEGRATION_CONFIGS_TABLE, column, rowId: row.id });
        }
        await batch.updateSecretEnvelopes(row.id, envelopes);
        valuesRotated += Object.keys(envelopes).length;
      }
      return rows.length;
    });
    if (rotatedInBatch === 0) break;
    rowsRotated += rotatedInBatch;
    options.onProgress?.({ done: Math.min(rowsRotated, total), total });
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  // The alert endpoints' signing secrets too: a retired key must not leave an alert unsendable.
  const alerts = new AlertEndpointRepository(dataSource);
  for (;;) {
    const rotatedInBatch = await transactions.run(async (tx) => {
      const batch = alerts.in(tx);
      const rows = await batch.lockRowsWithSecretNotUnder(active, batchSize);
      for (const row of rows) {
        const location = { table: ALERT_ENDPOINTS_TABLE, column: 'signing_secret_encrypted', rowId: row.id };
        await batch.updateSecretById(row.id, cipher.reencrypt(row.signing_secret_encrypted, location));
      }
      return rows.length;
    });
    if (rotatedInBatch === 0) break;
    rowsRotated += rotatedInBatch;
    valuesRotated += rotatedInBatch;
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  return { activeKeyId: active, valuesByKey: await countValuesByKey(dataSource), rowsRotated, valuesRotated };
}
