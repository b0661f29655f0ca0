import { INJECTABLE_WATERMARK } from '@nestjs/common/constants';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { useContainer } from 'class-validator';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule, type AppModuleOptions } from './app.module';
import { createValidationPipe } from './common/validation';
import { useBodyParsers } from './http/body-parsers';
import { setupSwagger } from './http/swagger';

export const REQUEST_TIMEOUT_MS = 60_000;
export const HEADERS_TIMEOUT_MS = 20_000;

/**
 * Builds the HTTP application exactly as it runs in production; main.ts and the e2e specs both
 * use it, so the tests exercise the real pipes, guards, filters and body limits.
 */
export async function createApp(options: AppModuleOptions): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), {
    bodyParser: false,
    bufferLogs: true,
    // Throw instead of exiting: main.ts reports start-up errors in one line, tests see them.
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  // Security headers; the CSP still lets Swagger UI (its own script and styles) work at /docs.
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'"] },
      },
    }),
  );
  app.set('query parser', 'simple');
  // Cross-origin browsers only from the configured origins (an admin console); none by default.
  if (options.config.corsOrigins.length > 0) {
    app.enableCors({
      origin: options.config.corsOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'X-Request-Id'],
      exposedHeaders: ['ETag', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'X-Request-Id'],
      maxAge: 600,
    });
  }
  // Behind a reverse proxy the client IP (per-IP rate limits, audit lines) comes from X-Forwarded-For.
  app.set('trust proxy', options.config.trustProxy);
  useBodyParsers(app);
  // Constraints that need providers (the registry) are @Injectable and come from Nest's
  // container; plain constraint classes are built by class-validator itself.
  useContainer({ get: (type: object) => (Reflect.getMetadata(INJECTABLE_WATERMARK, type) ? app.get(type as never) : undefined) }, { fallback: true });
  app.useGlobalPipes(createValidationPipe());
  setupSwagger(app);
  // Slow or stalled clients cannot hold connections forever.
  const server = app.getHttpServer();
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  return app;
}
