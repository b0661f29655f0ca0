import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { ROOT, waitForExit } from './support/child-processes';

jest.setTimeout(120_000);

const ORG = '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b';
const K1 = `k1:${randomBytes(32).toString('base64')}`;
const K2 = `k2:${randomBytes(32).toString('base64')}`;

// bin/cli.js and its commands as a user runs them: real processes, their output and exit codes.
describe('the command-line tools', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meander-cli-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  // No database is reachable: what a usage mistake says must come before any connection.
  const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'cli.js'), ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATA_DIR: dataDir,
        DATABASE_URL: 'postgres://127.0.0.1:1/none',
        AUTH_JWT_SECRET: 'x'.repeat(40),
        ENCRYPTION_KEYS: `${K1},${K2}`,
        ENCRYPTION_ACTIVE_KEY_ID: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return { code: await waitForExit(child, 60_000), stdout, stderr };
  };

  /** A usage mistake: exit 1, one line on stderr, no stack. */
  const expectRefused = (run: Awaited<ReturnType<typeof cli>>, pattern: RegExp) => {
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(pattern);
    expect(run.stdout).toBe('');
  };

  it('--help on bin/cli.js and on every command: usage on stdout, exit 0', async () => {
    const [top, token, rotate, rotateAlias, openapi] = await Promise.all([
      cli(['--help']),
      cli(['token', '--help']),
      cli(['keys-rotate', '--help']),
      cli(['keys:rotate', '-h']),
      cli(['openapi', '--help']),
    ]);
    for (const run of [top, token, rotate, rotateAlias, openapi]) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^usage: /);
      expect(run.stderr).toBe('');
    }
    expect(top.stdout).toMatch(/^ {2}token /m);
    expect(top.stdout).toMatch(/^ {2}keys-rotate /m);
    expect(top.stdout).toMatch(/^ {2}openapi /m);
    // The token's lifetime and its default are documented.
    expect(token.stdout).toMatch(/--ttl <seconds> .*default 3600 \(one hour\)/);
    expect(token.stdout).toMatch(/--org <uuid>/);
    expect(rotate.stdout).toMatch(/--retire <kid>/);
    expect(rotate.stdout).toMatch(/--dry-run/);
    expect(rotateAlias.stdout).toBe(rotate.stdout);
    expect(openapi.stdout).toMatch(/--out <file>/);
  });

  it('an unknown command, or none, prints the usage on stderr and exits 1, without a stack', async () => {
    const [unknown, none] = await Promise.all([cli(['nope']), cli([])]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^bin\/cli\.js: unknown command "nope"\n/);
    expect(unknown.stderr).toMatch(/^usage: /m);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^usage: /);
    for (const run of [unknown, none]) {
      expect(run.stderr).not.toMatch(/MODULE_NOT_FOUND|Cannot find module|\n\s+at /);
      expect(run.stdout).toBe('');
    }
  });

  it('token: --org must be a UUID, and is required for org_admin only', async () => {
    const [notUuid, missing, otherRole, unknownOption] = await Promise.all([
      cli(['token', '--org', 'nope']),
      cli(['token']),
      cli(['token', '--role', 'global_admin', '--org', ORG]),
      cli(['token', '--org', ORG, '--bogus']),
    ]);
    expectRefused(notUuid, /^token: --org must be an organization's UUID; "nope" is not a UUID$/m);
    expectRefused(missing, /^token: --org <uuid> is required for --role org_admin$/m);
    expectRefused(otherRole, /^token: --org is for --role org_admin only/m);
    expectRefused(unknownOption, /^token: Unknown option '--bogus' \(see --help\)$/m);
  });

  it("token: refused while AUTH_JWKS_URL is set, a secret set too (the service then accepts only the identity provider's tokens)", async () => {
    const run = await cli(['token', '--org', ORG], { AUTH_JWKS_URL: 'https://idp.example/.well-known/jwks.json' });
    expectRefused(run, /^token: AUTH_JWKS_URL is set: tokens come from your identity provider$/m);
  });

  it('token: --ttl is a whole number of seconds from 1 to 30 days, 1 hour by default', async () => {
    const runs = await Promise.all(['0', '-5', 'abc', '1.5', '2592001'].map((ttl) => cli(['token', '--org', ORG, '--ttl', ttl])));
    runs.forEach((run, i) =>
      expectRefused(run, new RegExp(`^token: --ttl must be a whole number of seconds from 1 to 2592000, not "${['0', '-5', 'abc', '1\\.5', '2592001'][i]}"$`, 'm')),
    );

    const [byDefault, minute, longest] = await Promise.all([
      cli(['token', '--org', ORG]),
      cli(['token', '--org', ORG, '--ttl', '60']),
      cli(['token', '--org', ORG, '--ttl', '2592000']),
    ]);
    const lifetime = (run: Awaited<ReturnType<typeof cli>>) => {
      expect(run.code).toBe(0);
      const claims = decodeJwt(run.stdout.trim());
      expect(claims).toMatchObject({ role: 'org_admin', org_id: ORG });
      return claims.exp! - claims.iat!;
    };
    expect(lifetime(byDefault)).toBe(3600);
    expect(lifetime(minute)).toBe(60);
    expect(lifetime(longest)).toBe(2_592_000);
  });

  it('keys:rotate: retiring an unknown key or the active one is refused (exit 1) before touching the database', async () => {
    const [unknown, active, activeNamed, notAnId] = await Promise.all([
      cli(['keys-rotate', '--retire', 'k9']),
      cli(['keys-rotate', '--retire', 'k2']),
      cli(['keys-rotate', '--retire', 'k1'], { ENCRYPTION_ACTIVE_KEY_ID: 'k1' }),
      cli(['keys-rotate', '--retire', K1]),
    ]);
    expectRefused(unknown, /^keys:rotate: --retire: no key "k9" in ENCRYPTION_KEYS \(have: k1, k2\)$/m);
    // The last key is active when ENCRYPTION_ACTIVE_KEY_ID is unset.
    expectRefused(active, /^keys:rotate: --retire: key "k2" is the active key: change ENCRYPTION_ACTIVE_KEY_ID to another key first/m);
    expectRefused(activeNamed, /^keys:rotate: --retire: key "k1" is the active key: change ENCRYPTION_ACTIVE_KEY_ID to another key first/m);
    // What looks like key material is not echoed.
    expectRefused(notAnId, /^keys:rotate: --retire: no key \(not a valid key id\) in ENCRYPTION_KEYS/m);
    expect(notAnId.stderr).not.toContain(K1.slice(3));
  });

  it('keys:rotate: --batch-size and --pause-ms are checked with their ranges', async () => {
    const [batchZero, batchText, pauseNegative, pauseLong] = await Promise.all([
      cli(['keys-rotate', '--batch-size', '0']),
      cli(['keys-rotate', '--batch-size', 'many']),
      cli(['keys-rotate', '--pause-ms', '-1']),
      cli(['keys-rotate', '--pause-ms', '60001']),
    ]);
    expectRefused(batchZero, /^keys:rotate: --batch-size must be a whole number of rows from 1 to 10000, not "0"$/m);
    expectRefused(batchText, /^keys:rotate: --batch-size must be a whole number of rows from 1 to 10000, not "many"$/m);
    expectRefused(pauseNegative, /^keys:rotate: --pause-ms must be a whole number of milliseconds from 0 to 60000, not "-1"$/m);
    expectRefused(pauseLong, /^keys:rotate: --pause-ms must be a whole number of milliseconds from 0 to 60000, not "60001"$/m);
  });
});
