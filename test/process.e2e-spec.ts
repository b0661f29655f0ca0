import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { issueToken } from '../src/auth/issue-token';
import { TokenVerifier } from '../src/auth/token-verifier';
import { loadAppConfig } from '../src/config/app-config';
import { freePort, killAllChildren, ROOT, spawnTs, startServiceProcess, waitForExit, waitForOutput, type ServiceProcess } from './support/child-processes';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';
import { TEST_JWT_SECRET } from './support/test-app';
import { waitFor } from './support/wait';

jest.setTimeout(120_000);

const KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

// The service as `npm start` runs it: a real process, its own embedded database, real signals.
describe('the service process', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meander-process-'));
  });
  afterEach(() => {
    killAllChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses to start in production without secrets: one clear line, nothing generated', async () => {
    const child = spawnTs('src/main.ts', [], { NODE_ENV: 'production', DATA_DIR: dataDir, AUTH_JWT_SECRET: '', ENCRYPTION_KEYS: '', DATABASE_URL: '' });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await waitForExit(child)).toBe(1);
    expect(stderr.trim()).toBe('start-up refused: AUTH_JWT_SECRET and ENCRYPTION_KEYS must be set when NODE_ENV=production');
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('refuses a malformed ENCRYPTION_KEYS in production with one line that does not echo it', async () => {
    const badKeys = 'k1:c2hvcnQ=';
    const child = spawnTs('src/main.ts', [], {
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      AUTH_JWT_SECRET: 'x'.repeat(40),
      ENCRYPTION_KEYS: badKeys,
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await waitForExit(child)).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^start-up refused: .*k1/);
    expect(stderr).not.toContain('c2hvcnQ');
  });

  /** Runs the service to its exit: its code, stderr's lines, and stdout's JSON log lines. */
  const startUp = async (env: NodeJS.ProcessEnv) => {
    const child = spawnTs('src/main.ts', [], {
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      AUTH_JWT_SECRET: 'x'.repeat(40),
      ENCRYPTION_KEYS: KEYS,
      PORT: '0',
      ...env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await waitForExit(child, 60_000);
    const logLines = stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; time: string; msg: string; err?: unknown });
    return { code, stderr: stderr.trimEnd().split('\n'), logLines };
  };

  /** One line on stderr, the same as one fatal JSON log line, naming what to fix and no secret. */
  const expectOneLine = (run: Awaited<ReturnType<typeof startUp>>, pattern: RegExp) => {
    expect(run.code).toBe(1);
    expect(run.stderr).toHaveLength(1);
    expect(run.stderr[0]).toMatch(pattern);
    expect(run.logLines).toEqual([expect.objectContaining({ level: 60, msg: run.stderr[0], time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/) })]);
    expect(run.logLines[0]).not.toHaveProperty('err');
  };

  it('names the server and database of an unreachable DATABASE_URL in one line, never its password', async () => {
    const port = await freePort();
    const run = await startUp({ DATABASE_URL: `postgres://meander:s3cret-pw@127.0.0.1:${port}/meander_prod` });
    expectOneLine(
      run,
      new RegExp(`^start-up failed: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port} \\(database "meander_prod", user "meander"\\): connection refused; .*DATABASE_URL`),
    );
    expect(run.stderr[0]).not.toContain('s3cret-pw');
  });

  it('says which database does not exist and how to fix it, in one line', async () => {
    const url = new URL(process.env.TEST_DATABASE_URL!);
    url.pathname = '/meander_missing_db';
    const run = await startUp({ DATABASE_URL: url.toString() });
    expectOneLine(
      run,
      new RegExp(`^start-up failed: cannot connect to PostgreSQL at ${url.hostname}:${url.port || 5432} .*database "meander_missing_db" does not exist; create it .*DATABASE_URL`),
    );
  });

  it("names DATA_DIR in one line when a file stands where the embedded database's directory should be", async () => {
    const file = join(dataDir, 'not-a-directory');
    writeFileSync(file, '');
    // The secrets are given: nothing is generated into DATA_DIR before the embedded database starts.
    const run = await startUp({ DATABASE_URL: '', DATA_DIR: file });
    expectOneLine(run, /^start-up failed: DATA_DIR is not a directory this process can write \(EEXIST on mkdir\)/);
  });

  it('refuses PORT=abc with the one rule it breaks', async () => {
    const run = await startUp({ PORT: 'abc' });
    expect(run.code).toBe(1);
    expect(run.stderr).toEqual(['start-up refused: invalid configuration: PORT must be a whole number from 0 to 65535']);
    expect(run.logLines).toEqual([expect.objectContaining({ level: 60, msg: run.stderr[0] })]);
  });

  it('starts on the embedded database, refuses a second process on the same DATA_DIR, stops on SIGTERM and restarts', async () => {
    const port = await freePort();
    const env = { DATA_DIR: dataDir, PORT: String(port), NODE_ENV: 'development', DATABASE_URL: '', AUTH_JWT_SECRET: '', ENCRYPTION_KEYS: '', LOG_LEVEL: 'info' };
    const first = spawnTs('src/main.ts', [], env);
    let firstStdout = '';
    first.stdout?.on('data', (chunk: Buffer) => (firstStdout += chunk.toString()));
    await waitForOutput(first, /listening on port/);
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
    // Log lines are buffered (bufferedStdout), yet out within the flush interval of a quiet moment.
    const accessLine = /"url":"\/health\/ready"[^\n]*"msg":"request completed"/;
    for (let waited = 0; !accessLine.test(firstStdout) && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(firstStdout).toMatch(accessLine);
    expect(existsSync(join(dataDir, 'embedded.lock'))).toBe(true);

    const second = spawnTs('src/main.ts', [], { ...env, PORT: String(await freePort()) });
    const refused = waitForOutput(second, /start-up refused: .*in use by process/);
    await expect(refused).resolves.toBeTruthy();
    expect(await waitForExit(second)).toBe(1);

    // npm run token signs with the secret the server generated into DATA_DIR.
    const tokenCli = spawnTs('src/cli/token.ts', ['--org', '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b', '--role', 'org_admin'], env);
    const [token] = await waitForOutput(tokenCli, /eyJ[\w-]+\.[\w-]+\.[\w-]+/);
    const config = loadAppConfig({ DATA_DIR: dataDir }, () => undefined);
    await expect(new TokenVerifier({ secret: config.jwtSecret }).verify(token)).resolves.toMatchObject({ role: 'org_admin', orgId: '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b' });

    first.kill('SIGTERM');
    expect(await waitForExit(first)).toBe(0);
    // and every line is written out on exit, the last one logged just before it included: "stopped".
    const lines = firstStdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { time: string; msg: string });
    const messages = lines.map((line) => line.msg);
    expect(messages).toContain('SIGTERM received: draining requests and closing the database');
    expect(messages[messages.length - 1]).toBe('stopped');
    expect(messages.indexOf('stopped')).toBeGreaterThan(messages.indexOf('SIGTERM received: draining requests and closing the database'));
    // `time` is ISO 8601 (UTC), on every line.
    for (const line of lines) expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(existsSync(join(dataDir, 'embedded.lock'))).toBe(false);

    const again = spawnTs('src/main.ts', [], env);
    await waitForOutput(again, /listening on port/);
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
    again.kill('SIGTERM');
    expect(await waitForExit(again)).toBe(0);
  });

  it('writes out buffered log lines when the process exits, however soon after they were logged', async () => {
    // 50 lines (under the 16 KiB the buffer waits for) and an immediate exit: none may be lost,
    // nor a byte of a multi-byte character (the lines are buffered as bytes).
    const script = `const out = require('./src/logging/logging.module').bufferedStdout(); for (let i = 0; i < 50; i++) out.write('line ' + i + ' Ærø ✓\\n'); process.exit(3);`;
    const child = spawn(process.execPath, ['-r', '@swc-node/register', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    expect(await waitForExit(child)).toBe(3);
    expect(stdout.trim().split('\n')).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i} Ærø ✓`));
  });

  it('stops buffering log lines once stdout has no reader (EPIPE): they do not pile up in memory', async () => {
    // 200,000 lines (~43 MB) into a stdout whose reading end is closed at once.
    const script = `const out = require('./src/logging/logging.module').bufferedStdout(); const line = JSON.stringify({ msg: 'x'.repeat(200) }) + '\\n'; let n = 0;
      global.gc(); const before = process.memoryUsage().arrayBuffers;
      (function batch() { for (let i = 0; i < 5000; i++) out.write(line); n += 5000; if (n < 200000) setImmediate(batch); else { global.gc(); setTimeout(() => { global.gc(); process.stderr.write('held ' + (process.memoryUsage().arrayBuffers - before) + '\\n'); process.exit(0); }, 200); } })();`;
    // After full collections (and time for V8 to free their buffers), only what is still held
    // counts: the lines written are garbage.
    const child = spawn(process.execPath, ['--expose-gc', '-r', '@swc-node/register', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitForExit(child);
    const held = Number(/held (-?\d+)/.exec(stderr)?.[1]);
    expect(Number.isFinite(held)).toBe(true);
    expect(held).toBeLessThan(8 * 2 ** 20);
  });

  it('drains an export in flight on SIGTERM: the run is answered and recorded, then the process exits 0', async () => {
    const port = await freePort();
    const env = { DATA_DIR: dataDir, PORT: String(port), NODE_ENV: 'development', DATABASE_URL: '', AUTH_JWT_SECRET: '', ENCRYPTION_KEYS: '', LOG_LEVEL: 'info' };
    const service = spawnTs('src/main.ts', [], env);
    await waitForOutput(service, /listening on port/);
    const org = '0b6f3a52-8c4e-4d7a-9a51-3c2d1e0f9a8b';
    const token = await issueToken({ secret: loadAppConfig({ DATA_DIR: dataDir }, () => undefined).jwtSecret, role: 'org_admin', orgId: org });
    const base = `http://127.0.0.1:${port}/v1/organizations/${org}/integrations`;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const config = await call('POST', '', { integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'k', enabled: true });
    expect(config.status).toBe(201);
    const mapped = await call('POST', `/${config.body.id}/field-mappings/bulk`, {
      items: [
        { source_field: 'expense_amount', target_field: 'Amount', transform_type: 'format', transform_config: { format: '0.00' } },
        { source_field: 'expense_date', target_field: 'TransactionDate', transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' } },
        { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999' },
      ],
    });
    expect(mapped.status).toBe(201);

    const records = Array.from({ length: 10_000 }, (_, i) => ({ claim_id: `c${i}`, expense_type: 'travel_km', expense_amount: i, expense_date: '2026-11-20' }));
    const started = waitForOutput(service, /"event":"export_started"/);
    const inFlight = call('POST', `/${config.body.id}/exports`, { records });
    // SIGTERM once the export is inside the handler (a fixed sleep could fire before the request arrived).
    await started;
    service.kill('SIGTERM');
    const answered = await inFlight;
    expect(answered.status).toBe(201);
    expect(answered.body.row_count).toBe(10_000);
    expect(await waitForExit(service)).toBe(0);

    const again = spawnTs('src/main.ts', [], env);
    await waitForOutput(again, /listening on port/);
    const runs = await call('GET', `/${config.body.id}/exports`);
    expect(runs.body.items).toEqual([expect.objectContaining({ id: answered.body.id, row_count: 10_000 })]);
    const mappings = await call('GET', `/${config.body.id}/field-mappings`);
    expect(mappings.body.items.map((m: { used_in_export: boolean }) => m.used_in_export)).toEqual([true, true, true]);
    again.kill('SIGTERM');
    expect(await waitForExit(again)).toBe(0);
  });
});

// The real process on the suite's database through a proxy the spec can cut silently (a partition:
// no answer, no reset), with a GET whose query waits on a lock held here until the cut.
describe('the shutdown deadline (SHUTDOWN_TIMEOUT_SECONDS)', () => {
  let proxy: TcpProxy;
  let db: Client;
  let service: ServiceProcess;
  beforeEach(async () => {
    const target = new URL(process.env.TEST_DATABASE_URL!);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    db = new Client({ connectionString: target.toString() });
    await db.connect();
  });
  afterEach(async () => {
    // A process the deadline did not end (or a failed wait) is killed: the run ends either way.
    killAllChildren();
    await db.end();
    await proxy.close();
  });

  const start = (env: NodeJS.ProcessEnv = {}) => startServiceProcess({ DATABASE_URL: proxy.through(process.env.TEST_DATABASE_URL!), ...env });

  /** A GET …/integrations in flight, its query waiting on integration_configs, locked here until `db` commits; its status (or `cut`) to come. */
  const getWaitingOnTheDatabase = async () => {
    const org = randomUUID();
    const token = await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org });
    await db.query('BEGIN');
    await db.query('LOCK TABLE integration_configs IN ACCESS EXCLUSIVE MODE');
    // Answered, or cut when the process exits.
    const answer = fetch(`${service.base}/v1/organizations/${org}/integrations`, { headers: { authorization: `Bearer ${token}` } }).then(
      (res) => res.status,
      () => 'cut',
    );
    const waiting = await waitFor(
      // Its query text may not show yet (the lock is taken as the statement is parsed): only that lock can hold a backend here.
      async () => (await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n as number,
      (n) => n > 0,
      30_000,
    );
    expect(waiting).toBe(1);
    // Wrapped: an async function returning the promise itself would wait for it.
    return { answer };
  };

  const logLines = () =>
    service
      .stdout()
      .trimEnd()
      .split('\n')
      // Every line whole: a cut one would not parse.
      .map((line) => JSON.parse(line) as { level: number; context?: string; msg: string });

  it('exits 1 after the bound when a request waits on a database gone silent, its last line saying so and its log complete', async () => {
    service = await start({ SHUTDOWN_TIMEOUT_SECONDS: '3' });
    const { answer } = await getWaitingOnTheDatabase();
    proxy.blackhole();
    // The lock goes; the query's answer is lost in the partition.
    await db.query('COMMIT');

    service.child.kill('SIGTERM');
    await waitForOutput(service.child, /SIGTERM received/);
    // As `npm start` passes a terminal's Ctrl-C on: a second signal changes nothing.
    service.child.kill('SIGINT');
    // Generous, the machine is shared: without the deadline the process never exits and this wait fails.
    expect(await waitForExit(service.child, 30_000)).toBe(1);
    const lines = logLines();
    expect(lines.map((line) => line.msg).filter((msg) => msg.includes('received: draining'))).toEqual(['SIGTERM received: draining requests and closing the database']);
    expect(lines[lines.length - 1]).toEqual(
      expect.objectContaining({
        level: 50,
        context: 'Bootstrap',
        msg: 'shutdown did not finish within 3 s (SHUTDOWN_TIMEOUT_SECONDS): exiting with code 1; still open: 1 HTTP connection(s), 0 delivery attempt(s)',
      }),
    );
    expect(await answer).toBe('cut');
  }, 120_000);

  it('still drains normally within the bound: the waiting request is answered, exit 0, `stopped` last', async () => {
    service = await start();
    const { answer } = await getWaitingOnTheDatabase();
    service.child.kill('SIGTERM');
    await waitForOutput(service.child, /SIGTERM received/);
    await db.query('COMMIT');
    expect(await answer).toBe(200);
    expect(await waitForExit(service.child, 60_000)).toBe(0);
    const messages = logLines().map((line) => line.msg);
    expect(messages[messages.length - 1]).toBe('stopped');
    expect(messages.join('\n')).not.toMatch(/shutdown did not finish/);
  }, 120_000);
});
