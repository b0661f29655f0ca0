// Copies of the migrated test database (CREATE DATABASE … TEMPLATE), made and dropped from a
// maintenance database: PostgreSQL copies a template only while no other session is on it, so
// nothing connects to the template itself (suites starting together would block each other).
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';

/** The database a URL names (PostgreSQL's default, the user's name, when it names none). */
export function databaseOf(url: string): string {
  const parsed = new URL(url);
  return decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username) || 'postgres';
}

const quoted = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

async function onMaintenance<T>(templateUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const url = new URL(templateUrl);
  url.pathname = databaseOf(templateUrl) === 'postgres' ? '/template1' : '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new database `name`, a copy of the template's; the role must have CREATEDB and own the template. */
export async function copyOfTemplate(templateUrl: string, name: string): Promise<void> {
  await onMaintenance(templateUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return void (await client.query(`CREATE DATABASE ${quoted(name)} TEMPLATE ${quoted(databaseOf(templateUrl))}`));
      } catch (error) {
        // 55006: a session is still on the template (a pool closing a moment late).
        if ((error as { code?: string }).code !== '55006' || attempt >= 5) throw error;
        await sleep(200 * attempt);
      }
    }
  });
}

/** A new, empty database `name` (a copy of template0: no schema, no migrations). */
export function emptyDatabase(templateUrl: string, name: string): Promise<void> {
  return onMaintenance(templateUrl, async (client) => void (await client.query(`CREATE DATABASE ${quoted(name)} TEMPLATE template0`)));
}

/** `templateUrl` with its database name changed to `name`. */
export function urlOf(templateUrl: string, name: string): string {
  const url = new URL(templateUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** Drops `name`; FORCE: a child process of the suite may still be closing its connections. */
export function dropDatabase(templateUrl: string, name: string): Promise<void> {
  return onMaintenance(templateUrl, async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${quoted(name)} WITH (FORCE)`)));
}
