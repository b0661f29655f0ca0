// npm run keys:rotate -- [--dry-run] [--retire <kid>] [--batch-size <n>] [--pause-ms <ms>]
// Re-encrypts every stored secret under ENCRYPTION_ACTIVE_KEY_ID (default: the last key of
// ENCRYPTION_KEYS), online, in batches; safe to stop and run again. --retire <kid> refuses
// (exit 1) while any value still uses that key. Works on DATABASE_URL, or on the embedded
// database of DATA_DIR (through the running service's server when it is up).
import { loadAppConfig } from '../config/app-config';
import { KEY_ID_PATTERN, Keyring } from '../crypto/keyring';
import { SecretCipher } from '../crypto/secret-cipher';
import { openDataSourceForCli } from '../database/cli-data-source';
import { countValuesByKey, describeUnreadable, rotateSecrets } from '../integration-config/secret-rotation';
import { integerOption, parseCommandArgs, runCommand, UsageError } from './cli-args';

const HELP = `
usage: npm run keys:rotate -- [--dry-run] [--batch-size <rows>] [--pause-ms <ms>]
       npm run keys:rotate -- --retire <kid>

Re-encrypts every stored secret under the active key (ENCRYPTION_ACTIVE_KEY_ID, or else the last
key of ENCRYPTION_KEYS), online, in batches, each in its own transaction: safe to stop and to run
again. Uses DATABASE_URL, or the embedded database of DATA_DIR.

  --dry-run            count the values each key encrypts; change nothing
  --batch-size <rows>  rows per batch, 1 to 10000 (default: 100)
  --pause-ms <ms>      pause between batches, 0 to 60000 (default: 0)
  --retire <kid>       exit 0 only when no value uses key <kid> any more (then remove it from
                       ENCRYPTION_KEYS); the active key cannot be retired
  -h, --help           this text
`;

function progressBar(done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} rows`;
}

async function main(): Promise<number> {
  const values = parseCommandArgs({
    help: HELP,
    options: {
      'dry-run': { type: 'boolean', default: false },
      retire: { type: 'string' },
      'batch-size': { type: 'string', default: '100' },
      'pause-ms': { type: 'string', default: '0' },
    },
  });
  const batchSize = integerOption('batch-size', values['batch-size'] ?? '100', 1, 10_000, 'rows');
  const pauseMs = integerOption('pause-ms', values['pause-ms'] ?? '0', 0, 60_000, 'milliseconds');
  const config = loadAppConfig(process.env, (line) => console.error(`warning: ${line}`));
  const keyring = Keyring.parse(config.encryptionKeys, config.encryptionActiveKeyId);
  const cipher = new SecretCipher(keyring);
  if (values.retire !== undefined) {
    // Only echo the id if it looks like one (it could be misplaced key material).
    const kid = KEY_ID_PATTERN.test(values.retire) ? `"${values.retire}"` : '(not a valid key id)';
    if (!keyring.has(values.retire)) throw new UsageError(`--retire: no key ${kid} in ENCRYPTION_KEYS (have: ${keyring.ids().join(', ')})`);
    if (values.retire === keyring.activeKeyId) {
      throw new UsageError(
        `--retire: key ${kid} is the active key: change ENCRYPTION_ACTIVE_KEY_ID to another key first (unset, the last key of ENCRYPTION_KEYS is active), redeploy, and run npm run keys:rotate`,
      );
    }
  }

  const dataSource = await (await openDataSourceForCli()).initialize();
  try {
    if (values.retire !== undefined) {
      const counts = await countValuesByKey(dataSource);
      const left = counts[values.retire] ?? 0;
      if (left > 0) {
        console.error(`keys:rotate: key "${values.retire}" still encrypts ${left} value(s): run npm run keys:rotate first`);
        return 1;
      }
      console.log(`key "${values.retire}" encrypts nothing: remove it from ENCRYPTION_KEYS`);
      return 0;
    }
    const report = await rotateSecrets(dataSource, cipher, {
      batchSize,
      dryRun: values['dry-run'],
      pauseMs,
      // A bar redrawn in place on a terminal; in a log (a job's output, CI) a line per batch.
      onProgress: ({ done, total }) => process.stderr.write(process.stderr.isTTY ? `\r${progressBar(done, total)}${done === total ? '\n' : ''}` : `${progressBar(done, total)}\n`),
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
    if (report.unreadable.length > 0) {
      // Where they are, never what: an operator mends them (restore the row, or set the secret again) and runs this again.
      console.error(`keys:rotate: ${report.unreadable.length} value(s) no key of ENCRYPTION_KEYS opens were left as they are:${describeUnreadable(report.unreadable)}`);
      return 1;
    }
    return 0;
  } finally {
    await dataSource.destroy();
  }
}

runCommand('keys:rotate', main);
