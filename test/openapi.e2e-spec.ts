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

  it('lists the dictionary rules of the create route, as the validation answers them', () => {
    const create = served.paths['/v1/organizations/{org_id}/integrations'].post;
    const rules = Object.keys(create.responses['400'].content[PROBLEM_CONTENT_TYPE].examples);
    expect(rules).toEqual(expect.arrayContaining(['base_url_must_be_https', 'display_name_not_empty', 'webhook_secret_format']));
    expect(create.description).toContain('`base_url_must_be_https`');
  });
});
