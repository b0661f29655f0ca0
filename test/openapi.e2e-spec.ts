import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROBLEM_CONTENT_TYPE } from '../src/common/problem';
import { startTestApp, type TestApp } from './support/test-app';

const COMMITTED = join(__dirname, '..', 'openapi.json');
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('the OpenAPI document', () => {
  let t: TestApp;
  let served: any;

  beforeAll(async () => {
    t = await startTestApp();
    served = (await t.http.get('/docs-json')).body;
  });
  afterAll(() => t.close());

  it('is committed as openapi.json exactly as the service serves it (run `npm run openapi` after an API change)', () => {
    const committed = JSON.parse(readFileSync(COMMITTED, 'utf8'));
    expect(served).toEqual(committed);
  });

  const operations = () => Object.entries<any>(served.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] })));

  it('answers every list read as API.md says lists answer: { items, next_cursor }', () => {
    const schemaOf = (ref: string) => served.components.schemas[ref.replace('#/components/schemas/', '')];
    const lists = operations()
      .filter(({ method }) => method === 'get')
      .map(({ path, op }) => ({ path, schema: op.responses['200']?.content?.['application/json']?.schema }))
      .map(({ path, schema }) => ({ path, schema: schema?.$ref ? schemaOf(schema.$ref) : schema }))
      .filter(({ schema }) => schema?.properties?.items);
    expect(lists.length).toBeGreaterThanOrEqual(10);
    expect(lists.filter(({ schema }) => !schema.properties.next_cursor || !schema.required?.includes('next_cursor')).map(({ path }) => path)).toEqual([]);
  });

  it('gives every operation a summary, a description naming its roles and rules, and a 500', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThanOrEqual(27);
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect({ where, summary: typeof op.summary === 'string' && op.summary.length > 0 }).toEqual({ where, summary: true });
      const bearer = (op.security ?? []).some((s: object) => 'bearer' in s);
      expect({ where, roles: bearer ? /Roles: `/.test(op.description) : true }).toEqual({ where, roles: true });
      expect({ where, has500: '500' in op.responses }).toEqual({ where, has500: true });
    }
  });

  it('gives every problem response an example per rule, and every request body an example', () => {
    expect(operations().length).toBeGreaterThanOrEqual(27);
    for (const { path, method, op } of operations()) {
      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (!/^[45]/.test(status)) continue;
        const examples = response.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {};
        expect({ where: `${method} ${path} ${status}`, examples: Object.keys(examples).length > 0 }).toEqual({ where: `${method} ${path} ${status}`, examples: true });
        for (const [rule, example] of Object.entries<any>(examples)) {
          expect(example.value).toMatchObject({ status: status === '4XX' ? 400 : Number(status), code: expect.any(String) });
          if (example.value.errors) expect(example.value.errors[0].rule).toBe(rule);
          else expect(example.value.code).toBe(rule);
        }
      }
      const body = op.requestBody?.content?.['application/json'];
      if (body) {
        const schema = body.schema?.$ref ? served.components.schemas[body.schema.$ref.split('/').pop()] : body.schema;
        const hasExample = !!body.example || !!body.examples || !!schema?.example || Object.values<any>(schema?.properties ?? {}).some((p) => p.example !== undefined);
        expect({ where: `${method} ${path}`, hasExample }).toEqual({ where: `${method} ${path}`, hasExample: true });
      }
    }
  });

  // The body parser answers 413 over a route's limit and 415 for a body it does not read, before
  // any handler, on every write (Fastify reads a DELETE's body too); the problem filter answers
  // 503 when the database (or the token issuer's key set) does not answer. Each is an error
  // response of those operations, documented as any other.
  it('documents 413 and 415 on every operation that reads a body, and 503 on every operation but the liveness probe and the metrics', () => {
    const missing: string[] = [];
    let bodies = 0;
    for (const { path, method, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      const codeOf = (status: string) => Object.keys(op.responses[status]?.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {});
      if (op.requestBody || method !== 'get') {
        bodies++;
        if (!codeOf('413').includes('payload_too_large')) missing.push(`${where} 413`);
        if (!codeOf('415').includes('unsupported_media_type')) missing.push(`${where} 415`);
      }
      if (!['/health/live', '/metrics'].includes(path) && !codeOf('503').includes('service_unavailable')) missing.push(`${where} 503`);
    }
    expect(missing).toEqual([]);
    expect(bodies).toBeGreaterThanOrEqual(20);
    const exportRun = served.paths['/v1/organizations/{org_id}/integrations/{integration_id}/exports'].post;
    expect(exportRun.responses['413'].content[PROBLEM_CONTENT_TYPE].examples.payload_too_large.value.detail).toBe(
      'The request body exceeds the limit of 10485760 bytes for this route.',
    );
    const config = served.paths['/v1/organizations/{org_id}/integrations/{id}'].patch;
    expect(config.responses['413'].content[PROBLEM_CONTENT_TYPE].examples.payload_too_large.value.detail).toBe(
      'The request body exceeds the limit of 1048576 bytes for this route.',
    );
    expect(config.responses['503'].content[PROBLEM_CONTENT_TYPE].examples.service_unavailable.value.detail).toBe('The database is unavailable; retry shortly.');
  });

  // The validation pipe refuses every field a DTO does not declare (API.md: unknown fields are
  // rejected): the request schemas say so. The free-form values inside them (extra_config, the
  // mapping shorthands, lookup maps, records) stay open: their keys are the caller's.
  it('closes every request body schema (additionalProperties: false), nested ones included, but the free-form maps inside', () => {
    const schemas = served.components.schemas;
    const open: string[] = [];
    const seen = new Set<string>();
    const visit = (schema: any, where: string): void => {
      if (!schema || typeof schema !== 'object') return;
      if (schema.$ref) {
        const name = schema.$ref.split('/').pop();
        if (seen.has(name)) return;
        seen.add(name);
        return visit(schemas[name], name);
      }
      if (schema.properties && schema.additionalProperties !== false) open.push(where);
      for (const [name, property] of Object.entries<any>(schema.properties ?? {})) visit(property, `${where}.${name}`);
      if (schema.items) visit(schema.items, `${where}[]`);
      for (const variant of [...(schema.oneOf ?? []), ...(schema.allOf ?? []), ...(schema.anyOf ?? [])]) visit(variant, where);
    };
    for (const { path, method, op } of operations()) {
      for (const media of Object.values<any>(op.requestBody?.content ?? {})) if (media.schema?.type !== 'string') visit(media.schema, `${method.toUpperCase()} ${path}`);
    }
    expect(open).toEqual([]);
    expect([...seen]).toEqual(
      expect.arrayContaining(['CreateIntegrationConfigDto', 'UpdateIntegrationConfigDto', 'CreateFieldMappingDto', 'RunExportRequestDto', 'RecordSyncRunDto']),
    );
    expect(schemas.CreateIntegrationConfigDto.properties.extra_config.additionalProperties).toBe(true);
    expect(schemas.RunExportRequestDto.properties.records.items.additionalProperties).not.toBe(false);
  });

  it('documents the inbound webhook body as bytes of any media type, stored as received', () => {
    const body = served.paths['/v1/webhooks/{integration_id}'].post.requestBody;
    expect(Object.keys(body.content)).toEqual(['*/*']);
    expect(body.content['*/*'].schema).toMatchObject({ type: 'string', format: 'binary' });
  });

  it('tells, for each integration type, the extra_config keys it needs before it can be enabled', async () => {
    expect(served.components.schemas.IntegrationTypeResponse.required).toContain('required_extra_config');
    const token = await t.token('org_admin');
    const types = (await t.http.get('/v1/integration-types').set('Authorization', `Bearer ${token}`)).body.items;
    expect(Object.fromEntries(types.map((type: any) => [type.integration_type, type.required_extra_config]))).toEqual({
      xledger: [],
      dynamics: ['entity_set', 'alternate_key'],
      hlf_portal: ['entity_set', 'alternate_key', 'tenant_id'],
    });
  });

  it('lists the dictionary rules of the create route, as the validation answers them', () => {
    const create = served.paths['/v1/organizations/{org_id}/integrations'].post;
    const rules = Object.keys(create.responses['400'].content[PROBLEM_CONTENT_TYPE].examples);
    expect(rules).toEqual(expect.arrayContaining(['base_url_must_be_https', 'display_name_not_empty', 'webhook_secret_format']));
    expect(create.description).toContain('`base_url_must_be_https`');
  });
});
