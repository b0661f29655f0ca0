import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectProblem } from './support/api';
import { answerBeforeBody } from './support/early-answer';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

const REFUSALS = 3;

describe('anonymous requests (HTTP, real database)', () => {
  let t: TestApp;

  beforeAll(async () => {
    // Loopback is the proxy here, so X-Forwarded-For stands for distinct client addresses.
    t = await startTestApp({ env: { RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: String(REFUSALS), TRUST_PROXY: 'loopback' } });
  });
  afterAll(() => t.close());

  it('are refused before their body is read, on every route that takes one', async () => {
    // Every operation of the contract that takes a body and a bearer token, its ids filled in.
    const document = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8')) as { paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>> };
    const writes: [string, string][] = [];
    for (const [template, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!['post', 'put', 'patch'].includes(method) || !operation.security?.some((s) => 'bearer' in s)) continue;
        writes.push([method.toUpperCase(), template.replace(/\{[^}]+\}/g, () => randomUUID())]);
      }
    }
    expect(writes.length).toBeGreaterThanOrEqual(10);
    // Each from its own address: the budget of refusals is not what is tested here.
    const answers = await Promise.all(writes.map(([method, path], i) => answerBeforeBody(t, method, path, 9 * 1024 * 1024, { 'x-forwarded-for': `198.51.100.${i + 1}` })));
    expect(answers.map((a, i) => `${writes[i].join(' ')} → ${a?.status}`)).toEqual(writes.map((w) => `${w.join(' ')} → 401`));
    for (const answer of answers) {
      expect(answer?.contentType).toMatch(/^application\/problem\+json/);
      expect(answer?.body.code).toBe('unauthorized');
    }
  });

  it('count against a budget per address: past it 429 with Retry-After, other addresses and known tokens unaffected', async () => {
    const org = newOrgId();
    const path = `/v1/organizations/${org}/integrations`;
    const known = await t.token('org_admin', org);
    const scanner = '203.0.113.7';
    expect((await t.http.get(path).set('x-forwarded-for', scanner).set('authorization', `Bearer ${known}`)).status).toBe(200);

    for (let i = 0; i < REFUSALS; i += 1) {
      const refused = await t.http
        .get(path)
        .set('x-forwarded-for', scanner)
        .set('authorization', i % 2 ? 'Bearer not.a.jwt' : 'Basic x');
      expectProblem(refused, 401, 'unauthorized');
    }
    const limited = await t.http.get(path).set('x-forwarded-for', scanner);
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // The limit that refused: the address's refusals, none left.
    expect([limited.headers['ratelimit-limit'], limited.headers['ratelimit-remaining'], limited.headers['ratelimit-reset']]).toEqual([
      String(REFUSALS),
      '0',
      limited.headers['retry-after'],
    ]);
    // A token never seen is not checked either while the address is over its budget.
    const unseen = await t.http
      .get(path)
      .set('x-forwarded-for', scanner)
      .set('authorization', `Bearer ${await t.token('org_admin', org)}`);
    expectProblem(unseen, 429, 'rate_limited');
    // A token verified before still works from there (a NAT shared with a scanner), and other addresses are untouched.
    expect((await t.http.get(path).set('x-forwarded-for', scanner).set('authorization', `Bearer ${known}`)).status).toBe(200);
    expectProblem(await t.http.get(path).set('x-forwarded-for', '203.0.113.8'), 401, 'unauthorized');
    // Public routes are not authenticated, so not counted.
    expect((await t.http.get('/health/live').set('x-forwarded-for', scanner)).status).toBe(200);
  });
});
