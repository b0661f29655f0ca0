import { randomBytes, randomUUID } from 'node:crypto';
import {
  Catch,
  Controller,
  Get,
  Injectable,
  Module,
  ValidationPipe,
  type ArgumentsHost,
  type ExceptionFilter,
  type INestApplication,
  type INestApplicationContext,
  type LoggerService,
} from '@nestjs/common';
import { APP_FILTER, APP_PIPE, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import request from 'supertest';
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../src/integration-types/built-in-types';
import {
  CreateIntegrationConfigDto,
  InjectMeanderDataSource,
  IntegrationConfigService,
  IntegrationsModule,
  Public,
  Roles,
  RuleViolation,
  SyncService,
  validateDto,
  type Principal,
} from '../src/index';
import { signStandardWebhook } from '../src/webhooks/signatures';
import { issueToken } from '../src/auth/issue-token';
import type { UpdateIntegrationConfigDto } from '../src/integration-config/dto/integration-config-request.dto';
import type { Connector, ConnectorContext, DeliveryRow, RowOutcome } from '../src/sync/connector';
import { TEST_JWT_SECRET, testConfig } from './support/test-app';

/** Collects what the module logs, to check the credential audit. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown) {
    this.lines.push(JSON.stringify(message));
  }
  warn(message: unknown) {
    this.lines.push(JSON.stringify(message));
  }
  error(message: unknown) {
    this.lines.push(JSON.stringify(message));
  }
}

/** The host's own external system, delivered to through a connector it registers. */
class HostLedgerConnector implements Connector {
  readonly integrationType = 'host_ledger';
  readonly maxBatchSize = 100;
  readonly received: { reference: string; output: Record<string, unknown>; apiKey: string | null }[] = [];

  async deliver(context: ConnectorContext, rows: DeliveryRow[]): Promise<RowOutcome[]> {
    for (const row of rows) this.received.push({ reference: row.reference, output: row.output, apiKey: context.credentials.api_key });
    return rows.map((row) => ({ index: row.index, status: 'delivered', externalId: `HL-${row.index}` }));
  }
}
const hostLedger = new HostLedgerConnector();

/** A sync service of the platform, as it would use the module. */
@Injectable()
class NightlySync {
  constructor(
    readonly sync: SyncService,
    readonly configs: IntegrationConfigService,
    // The host's own default data source, and the module's, side by side.
    readonly hostDataSource: DataSource,
    @InjectMeanderDataSource() readonly meanderDataSource: DataSource,
  ) {}
}

@Module({
  imports: [
    // A host with a default TypeORM data source of its own: the module's is named and separate.
    TypeOrmModule.forRoot({ type: 'postgres', url: process.env.TEST_DATABASE_URL, entities: [], synchronize: false, extra: { max: 2 } }),
    IntegrationsModule.forRootAsync({
      useFactory: () => testConfig({ DELIVERY_WORKERS: '1' }),
      http: false,
      connectors: [hostLedger],
      integrationTypes: [
        {
          integration_type: 'host_ledger',
          display_name: 'Host ledger',
          required_credentials: ['api_key'],
          required_target_fields: ['Amount'],
          source_fields: [...EXPENSE_CLAIM_SOURCE_FIELDS],
        },
      ],
    }),
  ],
  providers: [NightlySync],
})
class HostModule {}

describe('IntegrationsModule in a host application', () => {
  let app: INestApplicationContext;
  let host: NightlySync;
  const logger = new CapturingLogger();
  const org = randomUUID();
  const admin: Principal = { sub: randomUUID(), role: 'org_admin', orgId: org };
  const service: Principal = { sub: randomUUID(), role: 'sync_service', orgId: null };
  const API_KEY = `host-api-key-${randomUUID()}`;

  beforeAll(async () => {
    app = await NestFactory.createApplicationContext(HostModule, { logger, abortOnError: false });
    host = app.get(NightlySync);
    // The Xledger config the credential and export specs read.
    await host.configs.create(
      org,
      {
        integration_type: 'xledger',
        display_name: 'xledger',
        base_url: 'https://x.example',
        api_key: API_KEY,
        enabled: true,
        sync_frequency: 'daily',
        field_mappings: { expense_amount: 'Amount' },
      } as CreateIntegrationConfigDto,
      admin,
    );
  });
  afterAll(() => app.close());

  it("keeps the host's default data source beside its own", async () => {
    expect(host.hostDataSource).toBeInstanceOf(DataSource);
    expect(host.hostDataSource).not.toBe(host.meanderDataSource);
    expect(host.hostDataSource.isInitialized && host.meanderDataSource.isInitialized).toBe(true);
    // The host's data source knows none of the module's entities; the module's knows its own.
    expect(host.hostDataSource.entityMetadatas).toHaveLength(0);
    expect(host.meanderDataSource.entityMetadatas.map((m) => m.tableName)).toContain('integration_configs');
    const otherOrg = randomUUID();
    const config = await host.configs.create(
      otherOrg,
      { integration_type: 'host_ledger', display_name: 'H', base_url: 'https://x.example', api_key: API_KEY } as CreateIntegrationConfigDto,
      {
        ...admin,
        orgId: otherOrg,
      },
    );
    expect(await host.hostDataSource.query(`SELECT id FROM integration_configs WHERE id = $1`, [config.id])).toEqual([{ id: config.id }]);
  });

  it('reads decrypted credentials, audited without the values', async () => {
    const config = (await host.configs.list(org)).find((c) => c.integration_type === 'xledger')!;
    const credentials = await host.sync.readCredentials(org, config.id, service, 'nightly export');
    expect(credentials).toMatchObject({ api_key: API_KEY, base_url: 'https://x.example' });
    const audit = logger.lines.filter((l) => l.includes('credentials_read'));
    expect(audit.some((l) => l.includes(config.id) && l.includes(service.sub) && l.includes('nightly export'))).toBe(true);
    expect(logger.lines.join('\n')).not.toContain(API_KEY);
  });

  it('validates input from elsewhere as the REST API does before a service trusts it (validateDto)', async () => {
    const refused = await validateDto(CreateIntegrationConfigDto, { integration_type: 'no_such_system', display_name: 'X', api_key: 'k'.repeat(5000), surprise: 1 }).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(RuleViolation);
    expect(refused).toMatchObject({ status: 400, rule: 'validation_failed' });
    expect((refused as RuleViolation).errors.map((e) => `${e.field}:${e.rule}`).sort()).toEqual([
      'api_key:credential_length_within_bounds',
      'integration_type:integration_type_must_be_known_value',
      'surprise:unknown_field',
    ]);
    const valid = await validateDto(CreateIntegrationConfigDto, { integration_type: 'host_ledger', display_name: 'H', base_url: 'https://x.example' });
    expect(valid).toBeInstanceOf(CreateIntegrationConfigDto);
  });

  it('runs an export', async () => {
    const config = (await host.configs.list(org)).find((c) => c.integration_type === 'xledger')!;
    await expect(host.sync.runExport(org, config.id, [{ expense_amount: 1 }], service)).rejects.toMatchObject({ rule: 'coverage_check_before_export' });
    await host.configs.update(
      org,
      config.id,
      { field_mappings: { expense_amount: 'Amount', expense_date: 'TransactionDate', accounting_code: 'AccountCode' } } satisfies UpdateIntegrationConfigDto,
      admin,
    );
    const run = await host.sync.runExport(org, config.id, [{ claim_id: 'c1', expense_amount: 12, expense_date: '2026-11-20', expense_type: 'x' }], service);
    expect(run).toMatchObject({ status: 'completed', row_count: 1, rows: [{ output: { Amount: 12, TransactionDate: '2026-11-20', AccountCode: null } }] });
  });

  it("delivers a queued export through the host's own connector", async () => {
    const otherOrg = randomUUID();
    const owner: Principal = { ...admin, orgId: otherOrg };
    const config = await host.configs.create(
      otherOrg,
      {
        integration_type: 'host_ledger',
        display_name: 'H',
        base_url: 'https://x.example',
        api_key: API_KEY,
        enabled: true,
        sync_frequency: 'realtime',
        field_mappings: { expense_amount: 'Amount' },
      } as CreateIntegrationConfigDto,
      owner,
    );
    const run = await host.sync.runExport(otherOrg, config.id, [{ claim_id: 'c1', expense_amount: 12 }], service, { deliver: true });
    expect(run.status).toBe('queued');
    for (let waited = 0; hostLedger.received.length === 0 && waited < 20_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hostLedger.received).toEqual([{ reference: `meander:${run.id}:0`, output: { Amount: 12 }, apiKey: API_KEY }]);
    for (let waited = 0; (await host.configs.get(otherOrg, config.id)).last_sync_status !== 'success' && waited < 10_000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await host.configs.get(otherOrg, config.id)).toMatchObject({ last_sync_status: 'success' });
  });

  it('serves no route when imported with http: false, and leaves the host its global pipes', async () => {
    const web = await NestFactory.create(HostModule, { logger: false, abortOnError: false });
    web.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true }));
    await web.init();
    try {
      expect((await request(web.getHttpServer()).get('/v1/integration-types')).status).toBe(404);
    } finally {
      await web.close();
    }
  });
});

/** The host's own routes beside the API: the guards deny by default, so each says who may call it. */
@Controller('host')
class HostRoutesController {
  @Get('ping')
  @Public()
  ping() {
    return { pong: true };
  }

  @Get('admin')
  @Roles('org_admin')
  admin() {
    return { admin: true };
  }

  @Get('unmarked')
  unmarked() {
    return { open: true };
  }

  @Get('failing')
  @Public()
  failing() {
    throw new Error('host route failed');
  }
}

/** A host's catch-all filter: its answers are not the API's problem+json. */
@Catch()
class HostFilter implements ExceptionFilter {
  catch(_exception: unknown, host: ArgumentsHost) {
    host.switchToHttp().getResponse().status(500).json({ host_filter: true });
  }
}

@Module({ imports: [IntegrationsModule.forRootAsync({ useFactory: () => testConfig(), http: true })], controllers: [HostRoutesController] })
class ExpressHostModule {}

@Module({
  imports: [IntegrationsModule.forRootAsync({ useFactory: () => testConfig(), http: true })],
  controllers: [HostRoutesController],
  providers: [{ provide: APP_PIPE, useValue: new ValidationPipe({ whitelist: true, transform: true }) }],
})
class GlobalPipeHostModule {}

// The host's APP_FILTER is registered before the module's (Nest asks the last one first).
@Module({
  imports: [IntegrationsModule.forRootAsync({ useFactory: () => testConfig(), http: true })],
  controllers: [HostRoutesController],
  providers: [{ provide: APP_FILTER, useClass: HostFilter }],
})
class FilteredHostModule {}

@Module({ providers: [{ provide: APP_FILTER, useClass: HostFilter }] })
class HostErrorsModule {}

// Imported after the module: its APP_FILTER is registered after the module's.
@Module({ imports: [IntegrationsModule.forRootAsync({ useFactory: () => testConfig(), http: true }), HostErrorsModule], controllers: [HostRoutesController] })
class LateFilterHostModule {}

describe('IntegrationsModule with http: true in a host application (Express; Fastify where it differs)', () => {
  // The service runs on Fastify; the guards, pipe, filter and controllers use only what Express's
  // request and response share with Fastify's, so a host on Nest's default adapter serves the API too.
  it('serves the API: token and organization checks, validation by rule, ETag, rate-limit headers, problem+json', async () => {
    const web = await NestFactory.create(ExpressHostModule, new ExpressAdapter(), { logger: false, abortOnError: false });
    await web.init();
    try {
      const http = request(web.getHttpServer());
      const org = randomUUID();
      const auth = `Bearer ${await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org })}`;
      const base = `/v1/organizations/${org}/integrations`;
      const problem = (res: request.Response, status: number, code: string) => {
        expect(res.status).toBe(status);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body.code).toBe(code);
      };

      problem(await http.get(base), 401, 'unauthorized');
      problem(await http.get(`/v1/organizations/${randomUUID()}/integrations`).set('Authorization', auth), 403, 'org_scoped_access_only');
      const invalid = await http.post(base).set('Authorization', auth).send({ integration_type: 'no_such_system', display_name: 'X', surprise: 1 });
      problem(invalid, 400, 'validation_failed');
      // The registry's constraint is resolved from the container, as in the service.
      expect(invalid.body.errors.map((e: { rule: string }) => e.rule).sort()).toEqual(['integration_type_must_be_known_value', 'unknown_field']);

      const created = await http
        .post(base)
        .set('Authorization', auth)
        .send({ integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'host-express-key' });
      expect(created.status).toBe(201);
      expect(created.headers.etag).toBe('"1"');
      const read = await http.get(`${base}/${created.body.id}`).set('Authorization', auth);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe('"1"');
      expect(read.headers['ratelimit-limit']).toBeDefined();
      expect(read.body).toMatchObject({ id: created.body.id, has_api_key: true });
      expect(read.text).not.toContain('host-express-key');
      problem(await http.get(`${base}/${randomUUID()}`).set('Authorization', auth), 404, 'not_found');
      // Created without rawBody, the host parsed the webhook's JSON and kept no bytes to verify: a
      // misconfigured host (500, logged), never every delivery refused as a bad signature.
      problem(await http.post(`/v1/webhooks/${created.body.id}`).send({ type: 'expense.approved' }), 500, 'internal_error');
    } finally {
      await web.close();
    }
  });
  // Nest runs global pipes before the API's own validation: a whitelisting ValidationPipe would
  // strip an unknown field (stored: 201) where the API refuses it (400 unknown_field). A global
  // filter registered after the module's would answer the API's errors in place of problem+json.
  it.each([
    [
      'app.useGlobalPipes()',
      ExpressHostModule,
      (web: INestApplication) => void web.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true })),
      /serves the REST API \(http: true\), and the application has global pipes \(ValidationPipe\)/,
    ],
    ['APP_PIPE', GlobalPipeHostModule, () => undefined, /global pipes \(ValidationPipe\)/],
    [
      'app.useGlobalFilters()',
      ExpressHostModule,
      (web: INestApplication) => void web.useGlobalFilters(new HostFilter()),
      /global exception filters \(HostFilter\) registered after the module's/,
    ],
    ['an APP_FILTER imported after the module', LateFilterHostModule, () => undefined, /global exception filters \(HostFilter\) registered after the module's/],
  ])("refuses to start with %s, which would change the API's answers", async (_name, module, setUp, refusal) => {
    const web = await NestFactory.create(module, new ExpressAdapter(), { logger: false, abortOnError: false });
    setUp(web);
    try {
      await expect(web.init()).rejects.toThrow(refusal);
    } finally {
      await web.close();
    }
  });
  it("answers the host's routes' errors with its own filter, before a host's APP_FILTER", async () => {
    const web = await NestFactory.create(FilteredHostModule, new ExpressAdapter(), { logger: false, abortOnError: false });
    await web.init();
    try {
      const failed = await request(web.getHttpServer()).get('/host/failing');
      expect(failed.status).toBe(500);
      expect(failed.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(failed.body).toMatchObject({ code: 'internal_error' });
    } finally {
      await web.close();
    }
  });
  it.each([
    ['Express', () => new ExpressAdapter()],
    ['Fastify', () => new FastifyAdapter()],
  ])("on %s: opens the host's own routes with the exported Public and Roles, verifies webhooks over Nest's rawBody, never echoes a malformed body", async (_name, adapter) => {
    const web = await NestFactory.create(ExpressHostModule, adapter(), { logger: false, abortOnError: false, rawBody: true });
    await web.init();
    await web.getHttpAdapter().getInstance().ready?.();
    try {
      const http = request(web.getHttpServer());
      const org = randomUUID();
      const auth = `Bearer ${await issueToken({ secret: TEST_JWT_SECRET, role: 'org_admin', orgId: org })}`;
      expect((await http.get('/host/ping')).body).toEqual({ pong: true });
      expect((await http.get('/host/admin')).status).toBe(401);
      expect((await http.get('/host/admin').set('Authorization', auth)).body).toEqual({ admin: true });
      // Deny by default: a host route that says nothing is open to no one.
      expect((await http.get('/host/unmarked').set('Authorization', auth)).status).toBe(403);

      // Express's JSON parser quotes the bytes it choked on: the answer names the rule, never the body.
      const malformed = await http
        .post(`/v1/organizations/${org}/integrations`)
        .set('Authorization', auth)
        .set('Content-Type', 'application/json')
        .send('{"integration_type":"xledger","api_key": SuperSecretApiKey42}');
      expect(malformed.status).toBe(400);
      expect(malformed.body.errors).toEqual([expect.objectContaining({ field: 'body', rule: 'body_must_be_valid_json' })]);
      expect(malformed.text).not.toContain('SuperSecret');

      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const created = await http
        .post(`/v1/organizations/${org}/integrations`)
        .set('Authorization', auth)
        .send({ integration_type: 'xledger', display_name: 'X', base_url: 'https://x.example', api_key: 'host-express-key', enabled: true, webhook_secret: secret });
      expect(created.status).toBe(201);
      const body = '{"type":"expense.approved", "data": {"id": 1}}';
      const timestamp = Math.floor(Date.now() / 1000);
      const delivered = await http
        .post(`/v1/webhooks/${created.body.id}`)
        .set('Content-Type', 'application/json')
        .set('webhook-id', 'msg_host_1')
        .set('webhook-timestamp', String(timestamp))
        .set('webhook-signature', `v1,${signStandardWebhook(secret, 'msg_host_1', timestamp, Buffer.from(body))}`)
        .send(body);
      expect(delivered.status).toBe(202);
      // A content type whose bytes Nest does not keep: a 500 for the host to see, not a bad signature.
      const unkept = await http
        .post(`/v1/webhooks/${created.body.id}`)
        .set('Content-Type', 'text/plain')
        .set('webhook-id', 'msg_host_2')
        .set('webhook-timestamp', String(timestamp))
        .set('webhook-signature', `v1,${signStandardWebhook(secret, 'msg_host_2', timestamp, Buffer.from('plain'))}`)
        .send('plain');
      expect(unkept.status).toBe(500);
      const events = await http.get(`/v1/organizations/${org}/integrations/${created.body.id}/webhook-events`).set('Authorization', auth);
      expect(events.body.items.map((e: { payload: string }) => e.payload)).toEqual([body]);
    } finally {
      await web.close();
    }
  });
});
