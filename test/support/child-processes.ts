import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../src/database/embedded-postgres';
import { TEST_ENCRYPTION_KEYS, TEST_JWT_SECRET } from './test-app';

export const ROOT = join(__dirname, '..', '..');

const running = new Set<ChildProcess>();

/** Runs a TypeScript entry point of the project in a child process (compiled on the fly by swc). */
export function spawnTs(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', join(ROOT, entry), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Kills whatever a failed test left running, so the run can end. */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Resolves with the first stdout line matching `pattern`, or rejects on exit / timeout. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let output = '';
    const stopListening = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    // A child that never says it: killed, so a failed wait leaves nothing running.
    const timer = setTimeout(() => {
      stopListening();
      child.kill('SIGKILL');
      reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (match) {
        stopListening();
        resolve(match);
      }
    };
    const onExit = (code: number | null) => {
      stopListening();
      reject(new Error(`process exited with ${code} before ${pattern}; output:\n${output}`));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export function waitForExit(child: ChildProcess, timeoutMs = 30_000): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('process did not exit in time')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A TCP port nobody listens on right now (the embedded server's own helper). */
export const freePort = freeLoopbackPort;

export async function spawnEmbeddedPostgres(dataDir: string, port?: number): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawnTs('test/support/embedded-postgres-process.ts', port ? [dataDir, String(port)] : [dataDir]);
  const [, url] = await waitForOutput(child, /ready (\S+)\n/);
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await waitForExit(child);
    },
  };
}

export interface ServiceProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Everything it wrote so far. */
  stdout(): string;
  stderr(): string;
}

/**
 * The real service (src/main.ts) in a child process on a free loopback port and the test
 * database, with the test keys and limits no spec reaches; `env` adds or overrides settings.
 * Resolves once it listens.
 */
export async function startServiceProcess(env: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawnTs('src/main.ts', [], {
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: process.env.TEST_DATABASE_URL,
    DATABASE_POOL_SIZE: '5',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    LOG_LEVEL: 'info',
    MAPPING_WORKERS: '0',
    RATE_LIMIT_READS_PER_MINUTE: '1000000',
    RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
    RATE_LIMIT_PUBLIC_PER_MINUTE: '1000000',
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1000000',
    // Off as in testConfig: a spec that needs it says so.
    DELIVERY_SWEEP_MINUTES: '0',
    ...env,
  });
  // Drained all along: a full pipe would stall the service.
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const [, listening] = await waitForOutput(child, /listening on port (\d+)/, 90_000);
  if (Number(listening) !== port) throw new Error(`the service listens on ${listening}, not on ${port}`);
  return { child, base: `http://127.0.0.1:${port}`, stdout: () => stdout, stderr: () => stderr };
}
