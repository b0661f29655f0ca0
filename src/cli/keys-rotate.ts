// npm run keys:rotate -- [--dry-run] [--retire <kid>] [--batch-size <n>]
// Re-encrypts every stored secret under ENCRYPTION_ACTIVE_KEY_ID (default: the last key of
// ENCRYPTION_KEYS), online, in batches; safe to stop and run again. --retire <kid> refuses
// (exit 1) while any value still uses that key. Works on DATABASE_URL, or on the embedded
// database of DATA_DIR (through the running service's server when it is up).
import { parseArgs } from 'node:util';
import { loadAppConfig } from '../config/app-config';
import { Keyring } from '../crypto/keyring';
import { SecretCipher } from '../crypto/secret-cipher';
import { openDataSourceForCli } from '../database/cli-data-source';
import { countValuesByKey, rotateSecrets } from '../integration-config/secret-rotation';

function progressBar(done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} rows`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'dry-run': { type: 'boolean', default: false },
      retire: { type: 'string' },
      'batch-size': { type: 'string', default: '100' },
      'pause-ms': { type: 'string', default: '0' },
    },
  });
  const config = loadAppConfig(process.env, (line) => console.error(`warning: ${line}`));
  const keyring = Keyring.parse(config.encryptionKeys, config.encryptionActiveKeyId);
  const cipher = new SecretCipher(keyring);
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new Error('--batch-size must be an integer from 1 to 10000');

  const dataSource = await (await openDataSourceForCli()).initialize();
  try {
    if (values.retire) {
      const counts = await countValuesByKey(dataSource);
      const left = counts[values.retire] ?? 0;
      if (left > 0) {
        console.error(`keys:rotate: key "${values.retire}" still encrypts ${left} value(s): run npm run keys:rotate first`);
        return 1;
      }
      if (values.retire === keyring.activeKeyId) {
        console.error(`keys:rotate: key "${values.retire}" is the active key and cannot be retired`);
        return 1;
      }
      console.log(`key "${values.retire}" encrypts nothing: remove it from ENCRYPTION_KEYS`);
      return 0;
    }
    const report = await rotateSecrets(dataSource, cipher, {
      batchSize,
      dryRun: values['dry-run'],
      pauseMs: Number(values['pause-ms']),
      onProgress: ({ done, total }) => process.stderr.write(`\r${progressBar(done, total)}${done === total ? '\n' : ''}`),
    });
    if (values['dry-run']) {
      const pending = Object.entries(report.valuesByKey)
        .filter(([kid]) => kid !== report.activeKeyId)
        .reduce((n, [, c]) => n + c, 0);
      console.log(`dry run: ${pending} value(s) would be re-encrypted under "${report.activeKeyId}"; values by key: ${JSON.stringify(report.valuesByKey)}`);
    } else {
      console.log(
        `rotated ${report.valuesRotated} value(s) in ${report.rowsRotated} row(s) to key "${report.activeKeyId}"; values by key now: ${JSON.stringify(report.valuesByKey)}`,
      );
    }
    return 0;
  } finally {
    await dataSource.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`keys:rotate: ${(error as Error).message}`);
    process.exit(1);
  },
);
