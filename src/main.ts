import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadAppConfig, type AppConfig } from './config/app-config';
import { Keyring, KeyringError } from './crypto/keyring';
import { startEmbeddedPostgres, DataDirLockedError, type EmbeddedPostgres } from './database/embedded-postgres';
import { bufferedStdout } from './logging/logging.module';

async function bootstrap(): Promise<void> {
  let config: AppConfig = loadAppConfig();
  // Refuse a bad keyring before anything starts, in one line.
  Keyring.parse(config.encryptionKeys, config.encryptionActiveKeyId);
  let embedded: EmbeddedPostgres | undefined;
  if (!config.databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, maxConnections: config.databasePoolSize });
    config = config.withDatabaseUrl(embedded.url);
  }
  let app: NestFastifyApplication;
  try {
    app = await createApp({ config, logStream: bufferedStdout() });
  } catch (error) {
    await embedded?.stop();
    throw error;
  }

  // Graceful shutdown: stop accepting, let in-flight requests finish, close the pool, then the
  // embedded database (which must outlive the pool).
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const logger = new Logger('Bootstrap');
    logger.log(`${signal} received: draining requests and closing the database`, 'Bootstrap');
    void (async () => {
      try {
        await app.close();
        await embedded?.stop();
        process.exit(0);
      } catch (error) {
        logger.error(`shutdown failed: ${(error as Error).message}`, 'Bootstrap');
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await app.listen(config.port, config.host);
  // The bound port (PORT=0 picks a free one).
  const { port } = app.getHttpServer().address() as { port: number };
  new Logger('Bootstrap').log(
    `listening on port ${port} (address ${config.host}), database: ${embedded ? `embedded PostgreSQL in ${config.dataDir}` : 'DATABASE_URL'}`,
    'Bootstrap',
  );
}

bootstrap().catch((error: unknown) => {
  // One clear line for configuration mistakes; the rest is unexpected and gets its stack.
  if (error instanceof ConfigError || error instanceof KeyringError || error instanceof DataDirLockedError) {
    console.error(`start-up refused: ${error.message}`);
  } else {
    console.error('start-up failed:', error);
  }
  process.exit(1);
});
