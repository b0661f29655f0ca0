// Runs the embedded PostgreSQL as the service does, in a child process, for specs and benchmarks
// that need a database they can take away or keep apart. Prints `ready <url>` once it serves.
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';

const [dataDir, port, maxConnections] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: embedded-postgres-process <dataDir> [port|0] [maxConnections]');
startEmbeddedPostgres({ dataDir, maxConnections: maxConnections ? Number(maxConnections) : 10, port: port ? Number(port) : undefined }).then((db) => {
  process.stdout.write(`ready ${db.url}\n`);
  // The server runs detached (pg_ctl): this process lives until told to stop it.
  const alive = setInterval(() => undefined, 60_000);
  process.on('SIGTERM', () => void db.stop().then(() => (clearInterval(alive), process.exit(0))));
});
