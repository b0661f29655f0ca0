import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { ProtocolUnitQueue } from './protocol-unit-queue';

/**
 * The embedded PostgreSQL used when no DATABASE_URL is given: PGlite stored in a directory,
 * served over the PostgreSQL wire protocol on loopback so the `pg` driver, TypeORM and the
 * migrations are exactly those used against a real server.
 */
export interface EmbeddedPostgres {
  /** postgres:// URL of the socket server. */
  readonly url: string;
  stop(): Promise<void>;
}

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

/** Where a running service publishes its embedded server's URL, for CLI tools (keys:rotate, migrations). */
export const SERVER_URL_FILE = 'pglite.url';
/** Connections kept free for CLI tools beside the service's pool. */
export const CLI_CONNECTIONS = 2;

/** The URL of the embedded server another live process serves from this directory, if any. */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  const lock = join(dataDir, 'pglite.lock');
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
 * PGlite does not lock its directory and two processes writing it corrupt it: hold a pid lock.
 * A lock left by a dead process (kill -9) is taken over.
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
        throw new DataDirLockedError(`the embedded database in ${lockFile.replace(/\/[^/]+$/, '')} is in use by process ${owner}`);
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock ${lockFile}`);
}

export async function startEmbeddedPostgres(options: { dataDir: string; maxConnections: number; port?: number }): Promise<EmbeddedPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const releaseLock = acquireLock(join(options.dataDir, 'pglite.lock'));
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    db = await PGlite.create({ dataDir: join(options.dataDir, 'pgdata') });
    // One pooled connection per socket connection; more would be refused by the server.
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: options.port ?? 0, maxConnections: options.maxConnections + CLI_CONNECTIONS });
    // Connections get the single session per protocol unit, not per message (see the queue).
    (server as unknown as { queryQueue: ProtocolUnitQueue }).queryQueue = new ProtocolUnitQueue(db);
    await server.start();
  } catch (error) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    releaseLock();
    throw error;
  }
  const [host, port] = server.getServerConn().split(':');
  const url = `postgres://postgres:postgres@${host}:${port}/postgres`;
  const urlFile = join(options.dataDir, SERVER_URL_FILE);
  writeFileSync(urlFile, url, { mode: 0o600 });
  let stopped: Promise<void> | undefined;
  return {
    url,
    stop() {
      stopped ??= (async () => {
        rmSync(urlFile, { force: true });
        await server.stop();
        await db.close();
        releaseLock();
      })();
      return stopped;
    },
  };
}
