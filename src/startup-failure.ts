// What a failed start-up says: one line naming what to fix. Pure: no Nest imports.
import { describeDataDirFailure } from './config/data-dir-failure';

/** Where the service tried to connect: from DATABASE_URL, never its password. */
export interface DatabaseTarget {
  readonly host: string;
  readonly port: string;
  readonly database: string;
  readonly user?: string;
}

export function databaseTarget(databaseUrl: string): DatabaseTarget | undefined {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return undefined;
  }
  // libpq's ?host= (a socket directory) wins over the URL's host, as pg reads it.
  const host = url.searchParams.get('host') || url.hostname || 'localhost';
  const user = decodeURIComponent(url.username) || undefined;
  return { host, port: url.port || '5432', database: decodeURIComponent(url.pathname.replace(/^\//, '')) || user || 'postgres', user };
}

type ErrorFields = Error & { code?: unknown; syscall?: unknown; hostname?: unknown; path?: unknown };

function isWithin(path: string, dir: string): boolean {
  const base = dir.replace(/\/+$/, '');
  return path === base || path.startsWith(`${base}/`);
}

/**
 * The one line for an error that stopped the service starting, or undefined when the error is
 * none of the known mistakes (the caller then prints it with its stack, once).
 */
export function describeStartupFailure(error: unknown, context: { databaseUrl?: string; embedded?: boolean; host: string; port: number; dataDir?: string }): string | undefined {
  if (!(error instanceof Error)) return undefined;
  // The embedded database's files (its lock, its cluster): a refusal under DATA_DIR is that directory's.
  const { path } = error as ErrorFields;
  const dataDirLine = context.dataDir && typeof path === 'string' && isWithin(path, context.dataDir) ? describeDataDirFailure(error) : undefined;
  if (dataDirLine) return dataDirLine;
  const { code, syscall } = error as ErrorFields;
  if (syscall === 'listen') return describeListenFailure(code, context.host, context.port);
  const target = context.databaseUrl ? databaseTarget(context.databaseUrl) : undefined;
  const reason = databaseReason(error as ErrorFields, target);
  if (!reason) return undefined;
  if (context.embedded) return `cannot connect to the embedded PostgreSQL of DATA_DIR: ${reason.what}`;
  const where = target ? `PostgreSQL at ${target.host}:${target.port} (database "${target.database}"${target.user ? `, user "${target.user}"` : ''})` : 'PostgreSQL';
  return `cannot connect to ${where}: ${reason.what}; ${reason.fix}`;
}

function describeListenFailure(code: unknown, host: string, port: number): string | undefined {
  if (code === 'EADDRINUSE') return `port ${port} on ${host} is already in use: stop what listens there, or set PORT to a free port`;
  if (code === 'EACCES') return `not allowed to listen on port ${port}: set PORT to 1024 or above, or run with the right to bind it`;
  if (code === 'EADDRNOTAVAIL') return `${host} is not an address of this machine: set HOST to one of its addresses, or 0.0.0.0 for all`;
  return undefined;
}

// pg's errors: Node's socket codes, and PostgreSQL's SQLSTATEs for what the server refused.
function databaseReason(error: ErrorFields, target: DatabaseTarget | undefined): { what: string; fix: string } | undefined {
  const database = target?.database ?? 'the database';
  switch (error.code) {
    case 'ECONNREFUSED':
      return { what: 'connection refused', fix: 'is PostgreSQL running and listening there? Check the host and port of DATABASE_URL' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { what: `host "${target?.host ?? String(error.hostname)}" not found`, fix: 'check the host of DATABASE_URL' };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { what: 'the host does not answer', fix: 'check the host and port of DATABASE_URL, and that no firewall is in the way' };
    case '3D000':
      return { what: `database "${database}" does not exist`, fix: `create it (createdb ${database}) or fix the database name in DATABASE_URL` };
    case '28P01':
      return { what: `password authentication failed for user "${target?.user ?? ''}"`, fix: 'check the user and password in DATABASE_URL' };
    case '28000':
      return { what: firstLine(error.message), fix: "check the user of DATABASE_URL and the server's pg_hba.conf" };
    case '57P03':
      return { what: 'the server is starting up or shutting down', fix: 'start the service again once PostgreSQL is up' };
    case '53300':
      return { what: 'the server has no connection left', fix: 'lower DATABASE_POOL_SIZE or raise max_connections' };
  }
  if (error.code === undefined && /timeout/i.test(error.message) && /connect/i.test(error.message)) {
    return { what: 'no answer within the connection timeout', fix: 'check the host and port of DATABASE_URL, and that no firewall is in the way' };
  }
  if (error.code === undefined && /\bSSL\b/.test(error.message)) return { what: firstLine(error.message), fix: 'check sslmode in DATABASE_URL' };
  return undefined;
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}
