import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { AuditService } from '../src/audit/audit.service';
import { apiClient, type ApiClient, expenseClaim, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// openapi.json is OpenAPI 3.0, where `nullable: true` adds null to the schema's `type` and to
// nothing else: an `enum` without null, an `allOf`/`oneOf` whose members are objects, still refuse
// null (3.0.3's clarification; Ajv implements it, and a client validating with it or generating
// strict types gets it). Live answers that carry those nulls, and request bodies that send them,
// are validated here against the committed document, by Ajv 8 with its OpenAPI `nullable`.

type Json = Record<string, any>;

// Ajv 8 and its formats, as Fastify's own schema compiler brings them (no dependency of our own).
const fromFastify = createRequire(require.resolve('@fastify/ajv-compiler'));
const Ajv = fromFastify('ajv').default;
const addFormats = fromFastify('ajv-formats').default;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

describe('openapi.json under OpenAPI 3.0 null semantics (Ajv 8)', () => {
  const doc: Json = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8'));
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const compiled = new Map<object, (value: unknown) => boolean>();
  /** A validator of one schema of the document, its `$ref`s resolved within the document. */
  const validatorOf = (schema: Json) => {
    let validate = compiled.get(schema);
    if (!validate) compiled.set(schema, (validate = ajv.compile({ ...schema, components: doc.components })));
    return validate as ((value: unknown) => boolean) & { errors?: unknown[] };
  };
  const templates = Object.keys(doc.paths).map((path) => ({ path, pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
  /** The operation a request reached: the template with fewest parameters that matches. */
  const operationOf = (method: string, url: string): { where: string; operation: Json } => {
    const path = url.split('?')[0];
    const template = templates.filter((t) => t.pattern.test(path)).sort((a, b) => a.path.split('{').length - b.path.split('{').length)[0];
    const operation = template && doc.paths[template.path][method];
    if (!operation) throw new Error(`${method.toUpperCase()} ${path} is not an operation of openapi.json`);
    return { where: `${method.toUpperCase()} ${template.path}`, operation };
  };

  let t: TestApp;
  let api: ApiClient;
  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
  });
  afterAll(() => t.close());

  it('compiles every schema of the document: no `nullable` without a `type` beside it', () => {
    const failures: string[] = [];
    for (const name of Object.keys(doc.components.schemas)) {
      try {
        validatorOf({ $ref: `#/components/schemas/${name}` });
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
      }
    }
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const method of METHODS) {
        for (const media of [
          ...Object.values<Json>(item[method]?.requestBody?.content ?? {}),
          ...Object.values<Json>(item[method]?.responses ?? {}).flatMap((r: Json) => Object.values<Json>(r.content ?? {})),
        ]) {
          try {
            if (media.schema) validatorOf(media.schema);
          } catch (error) {
            failures.push(`${method.toUpperCase()} ${path}: ${(error as Error).message}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  // null reaches an enum only beside `nullable: true`: an enum the validators share (IsIn(SYNC_STATUSES)) must not carry it elsewhere.
  it('lists null in the enum of every nullable enum, and of no other', () => {
    const wrong: string[] = [];
    const walk = (node: unknown, where: string): void => {
      if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${where}/${i}`));
      if (node === null || typeof node !== 'object') return;
      const schema = node as Json;
      if (Array.isArray(schema.enum) && schema.enum.includes(null) !== (schema.nullable === true)) wrong.push(where);
      for (const [key, value] of Object.entries(schema)) if (key !== 'example' && key !== 'examples') walk(value, `${where}/${key}`);
    };
    walk(doc, '#');
    expect(wrong).toEqual([]);
    expect(doc.components.schemas.IntegrationConfigResponse.properties.last_sync_status.enum).toEqual(['success', 'partial', 'failed', null]);
    expect(doc.components.schemas.RecordSyncRunDto.properties.status.enum).toEqual(['success', 'partial', 'failed']);
  });

  it('accepts the nulls the service answers and takes: last_sync_status, delivery, transform_config, actor', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const configs = `/v1/organizations/${org}/integrations`;
    const mismatches: string[] = [];

    /** A request body as the document describes it, validated before it is sent. */
    const sent = (method: string, url: string, body: unknown) => {
      const { where, operation } = operationOf(method, url);
      const validate = validatorOf(operation.requestBody.content['application/json'].schema);
      if (!validate(body)) mismatches.push(`request ${where}: ${JSON.stringify(validate.errors)} body=${JSON.stringify(body)}`);
      return body;
    };

    const created = await api.post(configs, admin, sent('post', configs, xledgerConfig({ extra_config: null, accounting_code_mappings: null })));
    expect(created.body.last_sync_status).toBeNull();
    const config = `${configs}/${created.body.id}`;
    await api.get(config, admin);
    await api.get(configs, admin);

    const mappings = `${config}/field-mappings`;
    const direct = { source_field: 'expense_amount', target_field: 'Amount', is_required: true, transform_type: 'direct', transform_config: null };
    const mapping = await api.post(mappings, admin, sent('post', mappings, direct));
    expect(mapping.body.transform_config).toBeNull();
    const items = [
      { source_field: 'expense_date', target_field: 'TransactionDate', is_required: true, transform_type: 'format', transform_config: { format: 'dd.MM.yyyy' } },
      { source_field: 'accounting_code', target_field: 'AccountCode', is_required: true, default_value: '4999', transform_config: null },
    ];
    expect((await api.post(`${mappings}/bulk`, admin, sent('post', `${mappings}/bulk`, { items }))).status).toBe(201);
    await api.patch(`${mappings}/${mapping.body.id}`, admin, sent('patch', `${mappings}/${mapping.body.id}`, { transform_config: null, display_label: 'Amount' }));
    await api.get(`${mappings}/${mapping.body.id}`, admin);
    await api.get(mappings, admin);

    const exports = `${config}/exports`;
    const run = await api.post(exports, admin, { records: [expenseClaim()] });
    expect([run.status, run.body.delivery]).toEqual([201, null]);
    await api.get(`${exports}/${run.body.id}`, admin);
    const listed = await api.get(exports, admin);
    expect(listed.body.items.map((r: Json) => r.delivery)).toEqual([null]);

    // A change no one made (a config paused by the delivery after failures): its actor is null.
    await t.app
      .get(AuditService)
      .record({ orgId: org, actor: null, action: 'integration_config.paused', resource: { type: 'integration_config', id: created.body.id, integrationId: created.body.id } });
    const audit = await api.get(`/v1/organizations/${org}/audit-events?action=integration_config.paused`, admin);
    expect(audit.body.items.map((e: Json) => e.actor)).toEqual([null]);

    for (const call of api.seen) {
      const { where, operation } = operationOf(call.method, call.path);
      const media = operation.responses[String(call.status)]?.content?.[String(call.headers['content-type']).split(';')[0]];
      if (!media) {
        mismatches.push(`${where} ${call.status}: not documented`);
        continue;
      }
      const validate = validatorOf(media.schema);
      if (!validate(JSON.parse(call.text))) mismatches.push(`${where} ${call.status}: ${JSON.stringify(validate.errors)}`);
    }
    expect(mismatches).toEqual([]);
    expect(api.seen.length).toBeGreaterThanOrEqual(12);
  });
});
