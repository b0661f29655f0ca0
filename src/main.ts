import 'reflect-metadata';
import type { Server } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadAppConfig, type AppConfig } from './config/app-config';
import { Keyring, KeyringError } from './crypto/keyring';
import { startEmbeddedPostgres, DataDirLockedError, type EmbeddedPostgres } from './database/embedded-postgres';
import { AppLogger } from './logging/app-logger';
import { bufferedStdout, loggerOptions } from './logging/logging.module';
import { logUnhandledRejections } from './logging/unhandled-rejections';
import { describeStartupFailure } from './startup-failure';
import { DeliveryService } from './sync/delivery.service';

const logStream = bufferedStdout();

/** What start-up got to, for the line that says why it failed. */
const attempt: { config?: AppConfig; embedded?: boolean } = {};

async function bootstrap(): Promise<void> {
  let config: AppConfig = loadAppConfig();
  attempt.config = config;
  // Refuse a bad keyring before anything starts, in one line.
  Keyring.parse(config.encryptionKeys, config.encryptionActiveKeyId);
  let embedded: EmbeddedPostgres | undefined;
  if (!config.databaseUrl) {
    attempt.embedded = true;
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, maxConnections: config.databasePoolSize });
    config = config.withDatabaseUrl(embedded.url);
  }
  let app: NestFastifyApplication;
  try {
    app = await createApp({ config, logStream });
    await app.listen(config.port, config.host);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }

  // Graceful shutdown: delivery attempts stop first (DeliveryService), then stop accepting, let
  // in-flight requests finish, close the pool, then the embedded database (which must outlive the pool).
  // A second signal does nothing more: `npm start` passes a terminal's Ctrl-C on as a second SIGINT.
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const logger = new Logger('Bootstrap');
    logger.log(`${signal} received: draining requests and closing the database`, 'Bootstrap');
    // A drain that never ends (a query on a database gone silent: no answer, no reset) would be
    // cut by the orchestrator's SIGKILL, its last log lines with it: out first, on our own terms.
    setTimeout(() => exitUndrained(app, config.shutdownTimeoutSeconds, logger), config.shutdownTimeoutSeconds * 1000).unref();
    void (async () => {
      try {
        await app.close();
        await embedded?.stop();
        // The last line: the process ends on purpose (a supervisor can tell it from a crash).
        logger.log('stopped', 'Bootstrap');
        process.exit(0);
      } catch (error) {
        logger.error(`shutdown failed: ${(error as Error).message}`, 'Bootstrap');
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  logUnhandledRejections(new Logger('Process'));

  // The bound port (PORT=0 picks a free one).
  const { port } = app.getHttpServer().address() as { port: number };
  new Logger('Bootstrap').log(
    `listening on port ${port} (address ${config.host}), database: ${embedded ? `embedded PostgreSQL in ${config.dataDir}` : 'DATABASE_URL'}`,
    'Bootstrap',
  );
}

/**
 * SHUTDOWN_TIMEOUT_SECONDS passed and the drain has not finished: one line saying so and what is
 * still open, then exit 1 (process.exit writes the buffered log lines out, as on the normal path).
 * An embedded database is left running as after a kill; the next start takes it over.
 */
function exitUndrained(app: NestFastifyApplication, seconds: number, logger: Logger): void {
  // Each count is best effort: the line and the exit must happen whatever fails here.
  const count = <T>(read: () => T): T | 'unknown' => {
    try {
      return read();
    } catch {
      return 'unknown';
    }
  };
  const attempts = count(() => app.get(DeliveryService, { strict: false }).attemptsRunning);
  const exit = (connections: number | 'unknown') => {
    // Once the server stopped accepting (idle keep-alive connections closed), its connections are the requests in flight.
    const open = `${connections} HTTP connection(s), ${attempts} delivery attempt(s)`;
    logger.error(`shutdown did not finish within ${seconds} s (SHUTDOWN_TIMEOUT_SECONDS): exiting with code 1; still open: ${open}`, 'Bootstrap');
    process.exit(1);
  };
  const server = app.getHttpServer() as Server;
  if (count(() => server.getConnections((error, connections) => exit(error ? 'unknown' : connections))) === 'unknown') exit('unknown');
}

bootstrap().catch((error: unknown) => {
  // One line, on stderr for whoever started the process and as a JSON log line for the log
  // pipeline: configuration mistakes, and the database or port that could not be reached. Only
  // the unexpected gets its stack, once.
  const { config, embedded } = attempt;
  let line: string;
  let stack: string | undefined;
  if (error instanceof ConfigError || error instanceof KeyringError || error instanceof DataDirLockedError) {
    line = `start-up refused: ${error.message}`;
  } else {
    const known = config && describeStartupFailure(error, { databaseUrl: config.databaseUrl, embedded, host: config.host, port: config.port, dataDir: config.dataDir });
    line = `start-up failed: ${known ?? (error instanceof Error ? error.message : String(error))}`;
    if (!known) stack = error instanceof Error ? error.stack : undefined;
  }
  console.error(stack ? `${line}\n${stack}` : line);
  // A configuration refused before LOG_LEVEL was read still gets its log line.
  const logger = AppLogger.create(loggerOptions({ logLevel: config?.logLevel ?? 'info' }), logStream);
  logger.root.fatal({ context: 'Bootstrap', ...(stack ? { err: error } : {}) }, line);
  process.exit(1);
});
