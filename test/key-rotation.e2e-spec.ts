import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../src/crypto/keyring';
import { SecretCipher } from '../src/crypto/secret-cipher';
import { apiClient } from './support/api';
import { killAllChildren, spawnEmbeddedPostgres, spawnTs, waitForExit, waitForOutput } from './support/child-processes';
import { waitFor } from './support/wait';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

jest.setTimeout(120_000);

const K1 = `k1:${randomBytes(32).toString('base64')}`;
const K2 = `k2:${randomBytes(32).toString('base64')}`;
const K3 = `k3:${randomBytes(32).toString('base64')}`;
const K4 = `k4:${randomBytes(32).toString('base64')}`;
const COLUMNS = ['api_key_encrypted', 'client_secret_encrypted', 'webhook_secret_encrypted', 'previous_webhook_secret_encrypted', 'older_webhook_secret_encrypted'];

// Online key rotation on a database of its own: the service keeps serving while
// `keys:rotate` runs, is killed halfway, and is run again.
describe('keys:rotate', () => {
  let db: { url: string; stop(): Promise<void> };
  let dataDir: string;
  let app: TestApp | undefined;
  /** config id → column → plaintext expected after rotation. */
  const expected = new Map<string, Record<string, string>>();
  /** alert endpoint id → its signing secret: re-encrypted by the same run. */
  const alertSecrets = new Map<string, string>();

  const runCli = (args: string[], keys = `${K1},${K2}`) =>
    spawnTs('src/cli/keys-rotate.ts', args, { DATABASE_URL: db.url, ENCRYPTION_KEYS: keys, ENCRYPTION_ACTIVE_KEY_ID: '', NODE_ENV: 'test' });
  /** The run, and all it has printed so far (stdout and stderr). */
  const startCli = (args: string[], keys?: string) => {
    const child = runCli(args, keys);
    const output = { text: '' };
    child.stdout?.on('data', (c: Buffer) => (output.text += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output.text += c.toString()));
    return { child, output };
  };
  const cliOutput = async (args: string[], keys?: string) => {
    const { child, output } = startCli(args, keys);
    return { code: await waitForExit(child, 60_000), out: output.text };
  };
  const rows = async (t: TestApp) => t.dataSource.query(`SELECT id, ${COLUMNS.join(', ')} FROM integration_configs`) as Promise<Record<string, string | null>[]>;
  const keyIdsIn = (all: Record<string, string | null>[]) =>
    all.flatMap((r) =>
      COLUMNS.map((c) => r[c])
        .filter((v): v is string => !!v)
        .map((v) => v.split(':')[2]),
    );

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'meander-rotation-'));
    db = await spawnEmbeddedPostgres(dataDir);
    // Before the rotation: every secret under k1.
    const before = await startTestApp({ env: { DATABASE_URL: db.url, ENCRYPTION_KEYS: K1 } });
    try {
      const api = apiClient(before);
      for (let i = 0; i < 12; i++) {
        const org = newOrgId();
        const token = await before.token('org_admin', org);
        const apiKey = `api-key-${i}-${randomBytes(6).toString('hex')}`;
        const clientSecret = `client-secret-${i}-${randomBytes(6).toString('hex')}`;
        const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
        const res = await api.post(`/v1/organizations/${org}/integrations`, token, {
          integration_type: 'dynamics',
          display_name: `D${i}`,
          client_id: 'c',
          tenant_id: 't',
          client_secret: clientSecret,
          api_key: apiKey,
          webhook_secret: webhookSecret,
        });
        expect(res.status).toBe(201);
        const secrets: Record<string, string> = { api_key_encrypted: apiKey, client_secret_encrypted: clientSecret, webhook_secret_encrypted: webhookSecret };
        if (i % 2 === 0) {
          const rotated = await api.post(`/v1/organizations/${org}/integrations/${res.body.id}/webhook-secret`, token);
          secrets.previous_webhook_secret_encrypted = webhookSecret;
          secrets.webhook_secret_encrypted = rotated.body.webhook_secret;
        }
        if (i % 4 === 0) {
          // Rotated again within the 24 hours: the first secret is kept as the older one, under k1 too.
          const again = await api.post(`/v1/organizations/${org}/integrations/${res.body.id}/webhook-secret`, token);
          secrets.older_webhook_secret_encrypted = webhookSecret;
          secrets.previous_webhook_secret_encrypted = secrets.webhook_secret_encrypted;
          secrets.webhook_secret_encrypted = again.body.webhook_secret;
        }
        expected.set(res.body.id, secrets);
        if (i < 3) {
          const endpoint = await api.post(`/v1/organizations/${org}/alert-endpoints`, token, { url: 'https://ops.example.org/hooks' });
          expect(endpoint.status).toBe(201);
          alertSecrets.set(endpoint.body.id, endpoint.body.signing_secret);
        }
      }
      expect(new Set(keyIdsIn(await rows(before)))).toEqual(new Set(['k1']));
    } finally {
      await before.close();
    }
    // The deployment for the rotation: both keys, k2 active.
    app = await startTestApp({ env: { DATABASE_URL: db.url, ENCRYPTION_KEYS: `${K1},${K2}` } });
  }, 120_000);

  afterAll(async () => {
    try {
      await app?.close();
      await db?.stop();
    } finally {
      killAllChildren();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('--dry-run reports and changes nothing; --retire refuses while k1 is in use', async () => {
    const snapshot = await rows(app!);
    const dry = await cliOutput(['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/dry run: 48 value\(s\) would be re-encrypted under "k2"/);
    expect(await rows(app!)).toEqual(snapshot);
    const retire = await cliOutput(['--retire', 'k1']);
    expect(retire.code).toBe(1);
    expect(retire.out).toMatch(/key "k1" still encrypts 48 value/);
  });

  it('survives a kill halfway while the service serves, resumes, and every secret decrypts to its original', async () => {
    // Killed with at least six rows (six seconds) to go, so the CLI cannot finish first.
    const child = runCli(['--batch-size', '1', '--pause-ms', '1000']);
    await waitForOutput(child, /\] [3-6]\/15 rows/);
    child.kill('SIGKILL');
    await waitForExit(child);

    const halfway = keyIdsIn(await rows(app!));
    expect(halfway).toContain('k1');
    expect(halfway).toContain('k2');

    // The service keeps working on both kinds of rows meanwhile: a rotation of a webhook secret
    // decrypts whichever key the current value uses.
    const api = apiClient(app!);
    for (const [id] of [...expected].slice(0, 2)) {
      const [{ organization_id: org }] = await app!.dataSource.query(`SELECT organization_id FROM integration_configs WHERE id = $1`, [id]);
      const token = await app!.token('org_admin', org);
      const res = await api.post(`/v1/organizations/${org}/integrations/${id}/webhook-secret`, token);
      expect(res.status).toBe(201);
      const secrets = expected.get(id)!;
      // A rotation within the previous secret's 24 hours keeps it as the older one, unless a valid older one stays.
      if (!secrets.older_webhook_secret_encrypted && secrets.previous_webhook_secret_encrypted) secrets.older_webhook_secret_encrypted = secrets.previous_webhook_secret_encrypted;
      secrets.previous_webhook_secret_encrypted = secrets.webhook_secret_encrypted;
      secrets.webhook_secret_encrypted = res.body.webhook_secret;
    }

    const resumed = await cliOutput(['--batch-size', '5']);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(/values by key now: \{"k2":4\d\}/);
    // Not a terminal: no bar redrawn with carriage returns into the log, a line per batch.
    expect(resumed.out).not.toContain('\r');
    expect(resumed.out).toMatch(/^\[[#.]{30}\] \d+\/\d+ rows$/m);
    const again = await cliOutput([]);
    expect(again.out).toMatch(/rotated 0 value\(s\) in 0 row\(s\)/);

    const cipher = new SecretCipher(Keyring.parse(`${K1},${K2}`));
    const onlyK2 = new SecretCipher(Keyring.parse(K2));
    const after = await rows(app!);
    expect(after).toHaveLength(expected.size);
    for (const row of after) {
      const secrets = expected.get(row.id as string)!;
      for (const column of COLUMNS) {
        const envelope = row[column];
        if (!secrets[column]) {
          expect(envelope).toBeNull();
          continue;
        }
        expect(envelope!.split(':')[2]).toBe('k2');
        const at = { table: 'integration_configs', column, rowId: row.id as string };
        expect(cipher.decrypt(envelope!, at)).toBe(secrets[column]);
        expect(onlyK2.decrypt(envelope!, at)).toBe(secrets[column]);
      }
    }
    const alerts = (await app!.dataSource.query(`SELECT id, signing_secret_encrypted FROM alert_endpoints`)) as { id: string; signing_secret_encrypted: string }[];
    expect(alerts).toHaveLength(alertSecrets.size);
    for (const row of alerts) {
      expect(onlyK2.decrypt(row.signing_secret_encrypted, { table: 'alert_endpoints', column: 'signing_secret_encrypted', rowId: row.id })).toBe(alertSecrets.get(row.id));
    }
    const retire = await cliOutput(['--retire', 'k1']);
    expect(retire.code).toBe(0);
    expect(retire.out).toMatch(/key "k1" encrypts nothing/);
  });

  it('waits for a row a write holds locked, rather than stopping short of it', async () => {
    const holder = app!.dataSource.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      const [{ id }] = (await holder.query(`SELECT id FROM integration_configs ORDER BY id LIMIT 1 FOR UPDATE`)) as { id: string }[];
      const { child, output } = startCli([], `${K2},${K3}`);
      // Every other row goes to k3; the locked one is waited for, not skipped (the run goes on).
      const othersDone = async () => keyIdsIn((await rows(app!)).filter((r) => r.id !== id)).every((kid) => kid === 'k3');
      expect(await waitFor(othersDone, Boolean, 30_000)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(child.exitCode).toBeNull();
      expect((await rows(app!)).find((r) => r.id === id)?.api_key_encrypted?.split(':')[2]).toBe('k2');
      await holder.commitTransaction();
      expect(await waitForExit(child, 60_000)).toBe(0);
      expect(output.text).not.toMatch(/stayed locked/);
      const after = await rows(app!);
      expect(new Set(keyIdsIn(after))).toEqual(new Set(['k3']));
      expect(after.find((r) => r.id === id)?.api_key_encrypted?.split(':')[2]).toBe('k3');
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
  });
  it('a value no key opens is left as it is and named (row and column, never a value); every other is rotated; mended, the run ends clean', async () => {
    const [first, second] = await rows(app!);
    const [endpoint] = (await app!.dataSource.query(`SELECT id, signing_secret_encrypted FROM alert_endpoints ORDER BY id LIMIT 1`)) as {
      id: string;
      signing_secret_encrypted: string;
    }[];
    // A bad restore: one config's api key and one endpoint's secret carry envelopes of other rows (their AAD does not match).
    await app!.dataSource.query(`UPDATE integration_configs SET api_key_encrypted = $1 WHERE id = $2`, [second.api_key_encrypted, first.id]);
    await app!.dataSource.query(`UPDATE alert_endpoints SET signing_secret_encrypted = $1 WHERE id = $2`, [first.client_secret_encrypted, endpoint.id]);
    // And one malformed: a tag whose last character is not canonical base64url (the table's CHECK lets it in).
    const malformed = `${second.client_secret_encrypted!.slice(0, -1)}B`;
    await app!.dataSource.query(`UPDATE integration_configs SET client_secret_encrypted = $1 WHERE id = $2`, [malformed, second.id]);
    try {
      const { code, out } = await cliOutput([], `${K3},${K4}`);
      expect(code).toBe(1);
      expect(out).toContain(`integration_configs ${first.id} api_key_encrypted (authentication_failed)`);
      expect(out).toContain(`integration_configs ${second.id} client_secret_encrypted (malformed_envelope)`);
      expect(out).toContain(`alert_endpoints ${endpoint.id} signing_secret_encrypted (authentication_failed)`);
      for (const secrets of expected.values()) for (const plaintext of Object.values(secrets)) expect(out).not.toContain(plaintext);
      // Everything else is under k4, the bad rows' other columns too; the bad values are as they were.
      const after = await rows(app!);
      const badRow = after.find((r) => r.id === first.id)!;
      const malformedRow = after.find((r) => r.id === second.id)!;
      expect([badRow.api_key_encrypted, malformedRow.client_secret_encrypted]).toEqual([second.api_key_encrypted, malformed]);
      expect(new Set(keyIdsIn(after.filter((r) => r.id !== first.id && r.id !== second.id)))).toEqual(new Set(['k4']));
      expect(
        new Set(
          keyIdsIn([
            { ...badRow, api_key_encrypted: null },
            { ...malformedRow, client_secret_encrypted: null },
          ]),
        ),
      ).toEqual(new Set(['k4']));
      const endpoints = (await app!.dataSource.query(`SELECT id, signing_secret_encrypted FROM alert_endpoints`)) as { id: string; signing_secret_encrypted: string }[];
      expect(endpoints.filter((e) => e.id !== endpoint.id).map((e) => e.signing_secret_encrypted.split(':')[2])).toEqual(endpoints.slice(1).map(() => 'k4'));
    } finally {
      // Mended (the row restored): the run rotates the two and ends clean.
      await app!.dataSource.query(`UPDATE integration_configs SET api_key_encrypted = $1 WHERE id = $2`, [first.api_key_encrypted, first.id]);
      await app!.dataSource.query(`UPDATE integration_configs SET client_secret_encrypted = $1 WHERE id = $2`, [second.client_secret_encrypted, second.id]);
      await app!.dataSource.query(`UPDATE alert_endpoints SET signing_secret_encrypted = $1 WHERE id = $2`, [endpoint.signing_secret_encrypted, endpoint.id]);
    }
    const again = await cliOutput([], `${K3},${K4}`);
    expect(again.code).toBe(0);
    expect(new Set(keyIdsIn(await rows(app!)))).toEqual(new Set(['k4']));
  });
  it('stops, saying why, when a row it re-encrypted is under another key again (an instance writing with another active key)', async () => {
    const K5 = `k5:${randomBytes(32).toString('base64')}`;
    const [first] = (await app!.dataSource.query(`SELECT id, api_key_encrypted FROM integration_configs ORDER BY id LIMIT 1`)) as { id: string; api_key_encrypted: string }[];
    const { child, output } = startCli(['--batch-size', '1', '--pause-ms', '200'], `${K4},${K5}`);
    const underK5 = async () =>
      ((await app!.dataSource.query(`SELECT api_key_encrypted FROM integration_configs WHERE id = $1`, [first.id])) as { api_key_encrypted: string }[])[0];
    expect((await waitFor(underK5, (row) => row.api_key_encrypted.split(':')[2] === 'k5', 30_000)).api_key_encrypted.split(':')[2]).toBe('k5');
    // The other instance's write: the row under k4 again.
    await app!.dataSource.query(`UPDATE integration_configs SET api_key_encrypted = $1 WHERE id = $2`, [first.api_key_encrypted, first.id]);
    expect(await waitForExit(child, 60_000)).toBe(1);
    expect(output.text).toContain(`integration_configs ${first.id} was re-encrypted by this run and is under another key again`);
    expect(output.text).toContain('ENCRYPTION_ACTIVE_KEY_ID=k5');
    // Nobody writing under k4 any more, the next run ends clean.
    const again = await cliOutput([], `${K4},${K5}`);
    expect(again.code).toBe(0);
    expect(new Set(keyIdsIn(await rows(app!)))).toEqual(new Set(['k5']));
  });
});
