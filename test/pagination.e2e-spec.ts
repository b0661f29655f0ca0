import { apiClient, expectProblem, hlfPortalConfig, rulesOf, type ApiClient } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// The growing lists (sync runs, webhook events, export runs) page with opaque keyset cursors.
describe('paged lists (HTTP, real database)', () => {
  let t: TestApp;
  let api: ApiClient;
  let lists: string[];
  let token: string;

  beforeAll(async () => {
    t = await startTestApp();
    api = apiClient(t);
    const org = newOrgId();
    token = await t.token('org_admin', org);
    const res = await api.post(`/v1/organizations/${org}/integrations`, token, hlfPortalConfig());
    expect(res.status).toBe(201);
    const path = `/v1/organizations/${org}/integrations/${res.body.id}`;
    lists = [`${path}/sync-runs`, `${path}/webhook-events`, `${path}/exports`];
  });
  afterAll(() => t.close());

  it('refuses a cursor it did not issue, well-formed or not (400 cursor_must_be_valid)', async () => {
    const foreign = Buffer.from('offset:10').toString('base64url');
    for (const list of lists) {
      for (const cursor of [foreign, 'a*b', 'x'.repeat(65)]) {
        const res = await api.get(`${list}?cursor=${encodeURIComponent(cursor)}`, token);
        expectProblem(res, 400, 'validation_failed');
        expect(rulesOf(res)).toEqual(['cursor:cursor_must_be_valid']);
      }
    }
  });

  it('refuses a limit outside 1..200 (400 limit_within_bounds)', async () => {
    for (const list of lists) {
      for (const limit of ['0', '201', '1.5', 'ten']) {
        const res = await api.get(`${list}?limit=${limit}`, token);
        expectProblem(res, 400, 'validation_failed');
        expect(rulesOf(res)).toEqual(['limit:limit_within_bounds']);
      }
      expect((await api.get(`${list}?limit=200`, token)).body).toEqual({ items: [], next_cursor: null });
    }
  });
});
