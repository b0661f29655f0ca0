// Runs the embedded PostgreSQL in a child process, for specs that need a database they can take
// away (PGlite cannot start inside a jest test file). Prints `ready <url>` once it serves.
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';

const [dataDir, port, maxConnections] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: embedded-postgres-process <dataDir> [port|0] [maxConnections]');
startEmbeddedPostgres({ dataDir, maxConnections: maxConnections ? Number(maxConnections) : 10, port: port ? Number(port) : undefined }).then((db) => {
  process.stdout.write(`ready ${db.url}\n`);
  process.on('SIGTERM', () => void db.stop().then(() => process.exit(0)));
});
