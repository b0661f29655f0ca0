import { randomUUID } from 'node:crypto';
import { PROBLEM_CONTENT_TYPE } from '../src/common/problem';
import { UNKNOWN_ANSWER_PREFIX } from '../src/http/api-problem';
import { apiClient, hlfPortalConfig, xledgerConfig, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// The document's examples are answers of the service. Problem examples are compared with the
// live answer to the same bad request (ids aside: the document cannot know the ids a run creates);
// response examples are checked for what Swagger UI would otherwise show (`"string"`, one UUID for
// every id).

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const withoutIds = (body: unknown) => JSON.parse(JSON.stringify(body).replace(UUID, '<id>'));

describe('the OpenAPI examples', () => {
  let t: TestApp;
  let api: ApiClient;
  let doc: Json;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
    doc = (await t.http.get('/docs-json')).body;
  });
  afterAll(() => t.close());

  const example = (path: string, method: string, status: number, code: string): Json => {
    const value = doc.paths[path]?.[method]?.responses?.[String(status)]?.content?.[PROBLEM_CONTENT_TYPE]?.examples?.[code]?.value;
    if (!value) throw new Error(`${method.toUpperCase()} ${path} documents no ${status} example for ${code}`);
    return value;
  };

  const CONFIGS = '/v1/organizations/{org_id}/integrations';
  const CONFIG = '/v1/organizations/{org_id}/integrations/{id}';
  const SYNC_RUNS = '/v1/organizations/{org_id}/integrations/{id}/sync-runs';

  it('are what the service answers to the same bad requests (400, 401, 403, 404, 409, 412, 422)', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const configs = `/v1/organizations/${org}/integrations`;
    const cases: { live: () => Promise<{ status: number; body: unknown }>; path: string; method: string; status: number; code: string }[] = [
      { path: CONFIGS, method: 'post', status: 400, code: 'base_url_must_be_https', live: () => api.post(configs, admin, xledgerConfig({ base_url: 'http://insecure.example' })) },
      { path: CONFIGS, method: 'post', status: 400, code: 'display_name_not_empty', live: () => api.post(configs, admin, xledgerConfig({ display_name: '   ' })) },
      { path: CONFIGS, method: 'post', status: 400, code: 'unknown_field', live: () => api.post(configs, admin, xledgerConfig({ colour: 'blue' })) },
      { path: CONFIGS, method: 'post', status: 422, code: 'credentials_required_before_enable', live: () => api.post(configs, admin, xledgerConfig({ api_key: undefined })) },
      { path: CONFIGS, method: 'get', status: 401, code: 'unauthorized', live: () => api.get(configs, null) },
      { path: CONFIGS, method: 'get', status: 403, code: 'org_scoped_access_only', live: async () => api.get(`/v1/organizations/${randomUUID()}/integrations`, admin) },
      { path: CONFIGS, method: 'post', status: 403, code: 'forbidden', live: async () => api.post(configs, await t.token('sync_service'), xledgerConfig()) },
      { path: CONFIG, method: 'get', status: 404, code: 'not_found', live: () => api.get(`${configs}/${randomUUID()}`, admin) },
      {
        // A millisecond webhook-timestamp, sent to a real integration (an unknown id is 404 before any check).
        path: '/v1/webhooks/{integration_id}',
        method: 'post',
        status: 401,
        code: 'unauthorized',
        live: async () => {
          const created = await api.post(configs, admin, hlfPortalConfig(`whsec_${Buffer.alloc(32, 1).toString('base64')}`));
          return t.http
            .post(`/v1/webhooks/${created.body.id}`)
            .set('webhook-id', 'msg_1')
            .set('webhook-timestamp', String(Date.now()))
            .set('webhook-signature', 'v1,AAAA')
            .send('{}');
        },
      },
      {
        path: '/v1/organizations/{org_id}/alert-endpoints',
        method: 'post',
        status: 400,
        code: 'idempotency_key_not_supported',
        live: () => api.post(`/v1/organizations/${org}/alert-endpoints`, admin, { url: 'https://ops.example/alerts' }, { 'Idempotency-Key': randomUUID() }),
      },
    ];
    for (const c of cases) {
      const res = await c.live();
      expect({ case: `${c.method} ${c.path} ${c.code}`, status: res.status, body: withoutIds(res.body) }).toEqual({
        case: `${c.method} ${c.path} ${c.code}`,
        status: c.status,
        body: withoutIds(example(c.path, c.method, c.status, c.code)),
      });
    }

    // 409 (a second config of the type), 412 (a stale If-Match at revision 3), a query's 400.
    const created = await api.post(configs, admin, xledgerConfig());
    expect(created.status).toBe(201);
    const config = `${configs}/${created.body.id}`;
    expect(withoutIds((await api.post(configs, admin, xledgerConfig())).body)).toEqual(withoutIds(example(CONFIGS, 'post', 409, 'one_config_per_integration_type_per_org')));
    await api.patch(config, admin, { display_name: 'Xledger 2' });
    await api.patch(config, admin, { display_name: 'Xledger 3' });
    const stale = await api.patch(config, admin, { display_name: 'Xledger 4' }, { 'If-Match': '"1"' });
    expect(stale.body).toEqual(example(CONFIG, 'patch', 412, 'precondition_failed'));
    const moved = await api.patch(config, admin, { base_url: 'https://elsewhere.example/graphql' });
    expect(moved.body).toEqual(example(CONFIG, 'patch', 422, 'credentials_required_for_new_base_url'));
    const badLimit = await api.get(`${config}/sync-runs?limit=0`, admin);
    expect(badLimit.body).toEqual(example(SYNC_RUNS, 'get', 400, 'limit_within_bounds'));
  });

  it("are each bearer route's own answers without a token (401) and, for reads under an organization, for an id that does not exist (404)", async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const mismatches: string[] = [];
    const checked = { 401: 0, 404: 0 };
    for (const [template, item] of Object.entries<Json>(doc.paths)) {
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation?.security?.some((s: Json) => 'bearer' in s)) continue;
        const path = template.replace('{org_id}', org).replace(/\{[^}]+\}/g, () => randomUUID());
        const anonymous = await t.http[method as 'get'](path);
        checked[401]++;
        const documented401 = operation.responses['401']?.content?.[PROBLEM_CONTENT_TYPE]?.examples?.unauthorized?.value;
        if (JSON.stringify(anonymous.body) !== JSON.stringify(documented401)) mismatches.push(`${method.toUpperCase()} ${template} 401: ${anonymous.text}`);

        const roles: string[] = operation['x-roles'] ?? [];
        if (method !== 'get' || !/\{org_id\}.*\{[^}]+\}/.test(template) || !roles.includes('org_admin')) continue;
        const missing = await t.http.get(path).set('Authorization', `Bearer ${admin}`);
        checked[404]++;
        const documented404 = operation.responses['404']?.content?.[PROBLEM_CONTENT_TYPE]?.examples?.not_found?.value;
        if (JSON.stringify(missing.body) !== JSON.stringify(documented404)) mismatches.push(`GET ${template} 404: ${missing.text}`);
      }
    }
    expect(mismatches).toEqual([]);
    // Every route, not none: 34 bearer routes and 11 reads of one resource when this was written.
    expect(checked[401]).toBeGreaterThanOrEqual(34);
    expect(checked[404]).toBeGreaterThanOrEqual(11);
  });

  it('document, on every bearer read, the 400 a query parameter it does not read gets: none is ignored', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const refusals: string[] = [];
    let checked = 0;
    for (const [template, item] of Object.entries<Json>(doc.paths)) {
      const operation = item.get;
      if (!operation?.security?.some((s: Json) => 'bearer' in s)) continue;
      const path = template.replace('{org_id}', org).replace(/\{[^}]+\}/g, () => randomUUID());
      const res = await api.get(`${path}?not_a_parameter=1`, admin);
      checked++;
      const documented = operation.responses['400']?.content?.[PROBLEM_CONTENT_TYPE]?.examples?.unknown_field;
      const refused = res.status === 400 && res.body.errors?.some((e: Json) => e.field === 'not_a_parameter' && e.rule === 'unknown_field');
      if (!refused || !documented) refusals.push(`GET ${template}: ${res.status} ${refused ? '' : res.text}${documented ? '' : ' (no unknown_field example)'}`);
    }
    expect(refusals).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(14);
  });

  // The body each write is sent with is its documented example (or its required fields' examples):
  // valid, so the query alone can be refused. Without the query the same request is no 400 (it
  // reaches the service: 404 for the random ids, or done), which shows the body was not the cause.
  it('document, on every bearer write, the 400 a query parameter gets: none is ignored', async () => {
    const org = newOrgId();
    const admin = await t.token('org_admin', org);
    const schemaOf = (schema: Json | undefined): Json | undefined => (schema?.$ref ? doc.components.schemas[String(schema.$ref).split('/').pop()!] : schema);
    const exampleBody = (operation: Json): unknown => {
      const media = operation.requestBody?.content?.['application/json'];
      if (!media) return undefined;
      const schema = schemaOf(media.schema);
      const named = Object.values<Json>(media.examples ?? {})[0]?.value;
      const fromFields = Object.fromEntries((schema?.required ?? []).map((name: string) => [name, schema!.properties[name].example ?? schema!.properties[name].enum?.[0]]));
      return media.example ?? named ?? schema?.example ?? fromFields;
    };
    const refusals: string[] = [];
    let checked = 0;
    for (const [template, item] of Object.entries<Json>(doc.paths)) {
      for (const method of ['post', 'put', 'patch', 'delete']) {
        const operation = item[method];
        if (!operation?.security?.some((s: Json) => 'bearer' in s)) continue;
        const path = template.replace('{org_id}', org).replace(/\{[^}]+\}/g, () => randomUUID());
        const body = exampleBody(operation);
        const send = (url: string) => {
          const req = t.http[method as 'post'](url).set('Authorization', `Bearer ${admin}`);
          return body === undefined ? req : req.send(body as object);
        };
        const res = await send(`${path}?not_a_parameter=1`);
        const control = await send(path);
        checked++;
        const documented = operation.responses['400']?.content?.[PROBLEM_CONTENT_TYPE]?.examples?.unknown_field;
        const refused = res.status === 400 && res.body.errors?.some((e: Json) => e.field === 'not_a_parameter' && e.rule === 'unknown_field');
        if (!refused || !documented || control.status === 400) {
          refusals.push(
            `${method.toUpperCase()} ${template}: ${res.status} ${refused ? '' : res.text}${documented ? '' : ' (no unknown_field example)'}${control.status === 400 ? ` (the body is refused: ${control.text})` : ''}`,
          );
        }
      }
    }
    expect(refusals).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(19);
  });

  it('are never placeholders: every problem example has the words of the service', () => {
    const placeholders: string[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const method of METHODS) {
        for (const [status, response] of Object.entries<Json>(item[method]?.responses ?? {})) {
          for (const [code, ex] of Object.entries<Json>(response.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {})) {
            if (String(ex.value.detail).startsWith(UNKNOWN_ANSWER_PREFIX) || ex.value.errors?.some((e: Json) => e.field === 'field_name')) {
              placeholders.push(`${method.toUpperCase()} ${path} ${status} ${code}`);
            }
          }
        }
      }
    }
    expect(placeholders).toEqual([]);
  });

  it('show no `"string"` and give each kind of id its own UUID, the same one where two fields name one resource', () => {
    const schemas: Json = doc.components.schemas;
    const bare: string[] = [];
    // Signing secrets keep no example, shown once or write-only: any value in their alphabet would read as one leaked.
    const secrets: string[] = [];
    const visit = (schema: Json | undefined, where: string): void => {
      if (!schema || schema.$ref) return;
      if (String(schema.pattern).startsWith('^whsec_')) return void (schema.example == null ? secrets.push(where) : bare.push(`${where} (a secret's example)`));
      if ('example' in schema) return;
      if (schema.type === 'string' && !schema.enum && !['uuid', 'date-time'].includes(schema.format)) bare.push(where);
      for (const [name, property] of Object.entries<Json>(schema.properties ?? {})) visit(property, `${where}.${name}`);
      if (schema.items) visit(schema.items, `${where}[]`);
      for (const variant of schema.oneOf ?? []) visit(variant, `${where}|${variant.title ?? ''}`);
    };
    for (const [name, schema] of Object.entries<Json>(schemas)) visit(schema, name);
    expect(bare).toEqual([]);
    expect(secrets).toEqual(expect.arrayContaining(['WebhookSecretResponse.webhook_secret']));

    const config = schemas.IntegrationConfigResponse.properties;
    const ids = [config.id, config.organization_id, config.created_by].map((p: Json) => p.example);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(schemas.FieldMappingResponse.properties.integration_id.example).toBe(config.id.example);
    expect(schemas.FieldMappingResponse.properties.id.example).not.toBe(config.id.example);
    expect(schemas.SyncRunResponse.properties.integration_id.example).toBe(config.id.example);
  });

  it('document the webhook signatures on the webhook operation, not as schemes of the Authorize dialog', () => {
    expect(Object.keys(doc.components.securitySchemes)).not.toEqual(expect.arrayContaining(['webhook_signature']));
    for (const scheme of Object.values<Json>(doc.components.securitySchemes)) expect(scheme.type).not.toBe('apiKey');
    const receive = doc.paths['/v1/webhooks/{integration_id}'].post;
    expect(receive.security).toEqual([]);
    const headers = receive.parameters.filter((p: Json) => p.in === 'header').map((p: Json) => p.name);
    expect(headers).toEqual(expect.arrayContaining(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'X-XL-Webhook-Signature']));
  });

  it('define the rate-limit and CORS headers once, as components every response refers to', () => {
    expect(Object.keys(doc.components.headers)).toEqual(
      expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Access-Control-Allow-Origin', 'Retry-After']),
    );
    let references = 0;
    for (const item of Object.values<Json>(doc.paths)) {
      for (const method of METHODS) {
        for (const response of Object.values<Json>(item[method]?.responses ?? {})) {
          for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
            if (name in doc.components.headers) {
              expect(header).toEqual({ $ref: `#/components/headers/${name}` });
              references++;
            }
          }
        }
      }
    }
    expect(references).toBeGreaterThan(100);
  });
});
