import { randomUUID } from 'node:crypto';
import type { DynamicModule, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { issueToken } from '../../src/auth/issue-token';
import type { Role } from '../../src/auth/principal';
import { loadAppConfig, type AppConfig } from '../../src/config/app-config';
import type { Connector } from '../../src/sync/connector';
import { MEANDER_DATA_SOURCE } from '../../src/database/database.module';
import { canonicalFilters, sealCursor, type CursorFilters } from '../../src/crypto/sealed-cursor';

// Test-only credentials: never used outside this suite.
export const TEST_JWT_SECRET = 'test-only-jwt-secret-0123456789-abcdefghij';
export const TEST_ENCRYPTION_KEYS = 'test1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';

/** A cursor at `position` of an organization's list as the test app seals them (for positions no page of a spec's reaches). */
export function testCursor(orgId: string, list: string, position: bigint, filters: CursorFilters = {}): string {
  const [id, secret] = TEST_ENCRYPTION_KEYS.split(':');
  return sealCursor(position, { orgId, list, filters: canonicalFilters(filters) }, { id, secret: Buffer.from(secret, 'base64') });
}

export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the e2e specs through jest (globalSetup)');
  return loadAppConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    LOG_LEVEL: 'silent',
    DATABASE_POOL_SIZE: '5',
    // Suites send thousands of requests; test/rate-limits.e2e-spec.ts sets real limits.
    RATE_LIMIT_READS_PER_MINUTE: '10000000',
    RATE_LIMIT_WRITES_PER_MINUTE: '10000000',
    RATE_LIMIT_PUBLIC_PER_MINUTE: '10000000',
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '10000000',
    // API-only by default: test/delivery.e2e-spec.ts runs the delivery workers.
    DELIVERY_WORKERS: '0',
    // The sweep re-queues every organization's waiting runs at a minute of its cron: runs a spec
    // leaves waiting on purpose would move. Specs call DeliveryService.requeueStranded.
    DELIVERY_SWEEP_MINUTES: '0',
    ...overrides,
  });
}

export interface TestApp {
  app: NestFastifyApplication;
  http: TestAgent;
  config: AppConfig;
  dataSource: DataSource;
  /** Every log line the app wrote (when started with captureLogs). */
  logs: string[];
  token(role: Role, orgId?: string | null, extra?: { sub?: string; expiresIn?: number }): Promise<string>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  captureLogs?: boolean;
  /** Extra modules (test-only probe controllers). */
  imports?: (Type | DynamicModule)[];
  /** Delivery connectors (test sinks). */
  connectors?: Connector[];
}

/** The real application (pipes, guards, filters, body limits) on a real port and database. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const logs: string[] = [];
  const config = testConfig({ ...(options.captureLogs ? { LOG_LEVEL: 'trace' } : {}), ...options.env });
  const app = await createApp({
    config,
    logStream: options.captureLogs ? { write: (line: string) => void logs.push(line) } : undefined,
    extraImports: options.imports,
    connectors: options.connectors,
  });
  await app.listen(0, '127.0.0.1');
  const http = request.agent(app.getHttpServer());
  return {
    app,
    http,
    config,
    dataSource: app.get<DataSource>(getDataSourceToken(MEANDER_DATA_SOURCE)),
    logs,
    token: (role, orgId, extra = {}) =>
      issueToken({ secret: TEST_JWT_SECRET, role, orgId: role === 'org_admin' ? (orgId ?? randomUUID()) : null, issuer: config.jwtIssuer, audience: config.jwtAudience, ...extra }),
    close: () => app.close(),
  };
}

export const newOrgId = (): string => randomUUID();
