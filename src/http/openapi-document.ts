import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AppModule } from '../app.module';
import { loadAppConfig } from '../config/app-config';
import { buildOpenApiDocument } from './swagger';
/**
 * The document without a database: Nest's preview mode builds the module graph and reads the
 * routes' metadata but instantiates no provider (so nothing connects). `npm run openapi` writes it
 * to openapi.json; a spec checks that the running service serves exactly that.
 */
export async function generateOpenApiDocument(): Promise<OpenAPIObject> {
  const config = loadAppConfig({
    NODE_ENV: 'test',
    DATABASE_URL: 'postgres://127.0.0.1:1/unused',
    AUTH_JWT_SECRET: 'openapi-generation-only-secret-0123456789',
    ENCRYPTION_KEYS: `openapi:${Buffer.alloc(32).toString('base64')}`,
  });
  const app = await NestFactory.create(AppModule.forRoot({ config }), new FastifyAdapter(), { preview: true, logger: false, abortOnError: false });
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

/** The committed form: stable key order as generated, two-space indent, final newline. */
export function serializeOpenApiDocument(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
