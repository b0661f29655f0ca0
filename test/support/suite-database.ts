// Each e2e suite works on a database of its own: a copy of the migrated one globalSetup prepared
// (TEST_TEMPLATE_DATABASE_URL), made before the suite's own hooks run and dropped after them. One
// suite's leftovers (queued delivery jobs, waiting runs, audit events) are then never another's:
// the job queue's workers take whatever is queued, and the delivery sweep re-queues every
// organization's waiting runs.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

const templateUrl = process.env.TEST_TEMPLATE_DATABASE_URL;
if (!templateUrl) throw new Error('TEST_TEMPLATE_DATABASE_URL is not set: run the e2e specs through jest (globalSetup)');
const template = decodeURIComponent(new URL(templateUrl).pathname.slice(1));
// PostgreSQL names are at most 63 bytes.
const name = `${template.slice(0, 40)}_suite_${randomBytes(6).toString('hex')}`;
const suiteUrl = new URL(templateUrl);
suiteUrl.pathname = `/${encodeURIComponent(name)}`;
// Set now, not in the hook: a spec may read it while it loads.
process.env.TEST_DATABASE_URL = suiteUrl.toString();

/** Runs `sql` on the template's own connection: the only one the template has, which CREATE DATABASE … TEMPLATE allows. */
async function onTemplate(sql: string): Promise<void> {
  const client = new Client({ connectionString: templateUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const quoted = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

beforeAll(() => onTemplate(`CREATE DATABASE ${quoted(name)} TEMPLATE ${quoted(template)}`), 60_000);
// FORCE: a child process the suite started may still be closing its connections.
afterAll(() => onTemplate(`DROP DATABASE IF EXISTS ${quoted(name)} WITH (FORCE)`), 60_000);
