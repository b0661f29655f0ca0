// Each e2e suite works on a database of its own: a copy of the migrated one globalSetup prepared
// (TEST_TEMPLATE_DATABASE_URL), made before the suite's own hooks run and dropped after them. One
// suite's leftovers (queued delivery jobs, waiting runs, audit events) are then never another's:
// the job queue's workers take whatever is queued, and the delivery sweep re-queues every
// organization's waiting runs.
import { randomBytes } from 'node:crypto';
import { copyOfTemplate, dropDatabase, urlOf } from './template-database';

const templateUrl = process.env.TEST_TEMPLATE_DATABASE_URL;
if (!templateUrl) throw new Error('TEST_TEMPLATE_DATABASE_URL is not set: run the e2e specs through jest (globalSetup)');
const name = `meander_suite_${randomBytes(6).toString('hex')}`;
// Set now, not in the hook: a spec may read it while it loads.
process.env.TEST_DATABASE_URL = urlOf(templateUrl, name);

beforeAll(() => copyOfTemplate(templateUrl, name), 60_000);
afterAll(() => dropDatabase(templateUrl, name), 60_000);
