import { RequestMethod } from '@nestjs/common';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { DiscoveryModule, DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { GUARDS_METADATA, INTERCEPTORS_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants.js';
import { AUDIT_ACTIONS } from '../src/audit/audit-actions';
import { AUTHENTICATED_ROUTE, IS_PUBLIC, NO_SIDE_EFFECTS, NOT_RATE_LIMITED, ROLES_KEY } from '../src/auth/auth.decorators';
import { PUBLIC_BUDGET_ROUTE } from '../src/http/rate-limit.guard';
import { PROBLEM_CONTENT_TYPE } from '../src/common/problem';
import { IdempotencyInterceptor } from '../src/idempotency/idempotency.interceptor';
import { IdempotencyKeyRefusal } from '../src/idempotency/refuses-idempotency-key.decorator';
import { NO_QUERY_PIPE, SHALLOW_BODY_VALIDATION_PIPE, VALIDATION_PIPE } from '../src/common/validation';
import { apiClient, xledgerConfig } from './support/api';
import { newOrgId, startTestApp, type TestApp } from './support/test-app';

// Every route of the service declares who may call it: @Public() or @Roles(...). A route that
// forgets would be closed by the guard anyway, but this catches the mistake before a user does.
describe('route inventory', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ imports: [DiscoveryModule] });
  });
  afterAll(() => t.close());

  type Fn = (...args: never[]) => unknown;

  /** Every route handler of the service, with its controller. */
  function handlers(): { route: string; controller: Fn; prototype: Record<string, unknown>; name: string; handler: Fn }[] {
    const discovery = t.app.get(DiscoveryService);
    const scanner = t.app.get(MetadataScanner);
    const found = [];
    for (const wrapper of discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || !wrapper.metatype) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name] as Fn;
        if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        const route = `${method} ${Reflect.getMetadata(PATH_METADATA, wrapper.metatype)}/${Reflect.getMetadata(PATH_METADATA, handler)}`;
        found.push({ route, controller: wrapper.metatype as Fn, prototype, name, handler });
      }
    }
    return found;
  }

  it('every route declares @Public() or its roles', () => {
    const reflector = t.app.get(Reflector);
    const routes = handlers().map(({ route, controller, handler }) => {
      const isPublic = reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, controller]);
      const roles = reflector.getAllAndOverride<string[]>(ROLES_KEY, [handler, controller]);
      return { route, access: isPublic ? 'public' : roles?.length ? roles.join(',') : 'UNDECLARED' };
    });
    expect(routes.length).toBeGreaterThan(0);
    expect(routes.filter((r) => r.access === 'UNDECLARED')).toEqual([]);
  });

  // Public means "no user token": each of these proves its caller otherwise, or needs no proof.
  it('only the probes, the inbound webhooks and the metrics (their own token) are public', () => {
    const reflector = t.app.get(Reflector);
    const open = handlers()
      .filter(({ controller, handler }) => reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, controller]))
      .map(({ route }) => route.replace(/\/+$/, ''))
      .sort();
    expect(open).toEqual(['GET health/live', 'GET health/ready', 'GET metrics', 'POST v1/webhooks/:integration_id']);
  });

  // There is no global validation pipe (it would run on every path id too): a body or query
  // parameter that forgot ValidBody()/ValidBulkBody()/ValidQuery() would reach the service unchecked.
  it('every body and query parameter of the API is validated', () => {
    const params: { route: string; param: string; validated: boolean }[] = [];
    for (const { route, controller, prototype, name } of handlers()) {
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, { index: number; pipes?: unknown[] }>;
      for (const [key, arg] of Object.entries(args)) {
        const type = Number(key.split(':')[0]);
        if (type !== RouteParamtypes.BODY && type !== RouteParamtypes.QUERY) continue;
        const metatype = (Reflect.getMetadata('design:paramtypes', prototype, name) as unknown[])[arg.index];
        params.push({
          route,
          param: `${RouteParamtypes[type]} ${(metatype as Fn | undefined)?.name}`,
          validated:
            arg.pipes?.some(
              (pipe) =>
                pipe === VALIDATION_PIPE || (type === RouteParamtypes.BODY && pipe === SHALLOW_BODY_VALIDATION_PIPE) || (type === RouteParamtypes.QUERY && pipe === NO_QUERY_PIPE),
            ) ?? false,
        });
      }
    }
    expect(params.filter((p) => p.param.startsWith('BODY')).length).toBeGreaterThan(5);
    expect(params.filter((p) => p.param.startsWith('QUERY')).length).toBeGreaterThan(2);
    expect(params.filter((p) => !p.validated)).toEqual([]);
  });

  // Every route that changes something records who did what in the audit trail (each action is
  // tested in its feature's spec). A new write route fails here until it says which event it
  // writes, or why none.
  // An inventory: a new write route fails here until it says which event it records. That each
  // route records it is asserted in its feature's spec (audit-events, alerts, errors).
  it('every write route is listed with the audit event it records', () => {
    const AUDITED: Record<string, string> = {
      'POST integrations': 'integration_config.created',
      'PATCH integrations/:id': 'integration_config.updated',
      'DELETE integrations/:id': 'integration_config.deleted',
      'POST integrations/:id/webhook-secret': 'integration_config.webhook_secret_rotated',
      'POST integrations/:id/sync-runs': 'sync_run.recorded',
      'POST integrations/:id/sync': 'delivery.requested',
      'POST integrations/:id/connection-test': 'connection.tested',
      'POST integrations/:integration_id/field-mappings': 'field_mapping.created',
      'POST integrations/:integration_id/field-mappings/bulk': 'field_mapping.created',
      'PUT integrations/:integration_id/field-mappings/order': 'field_mapping.reordered',
      'PATCH integrations/:integration_id/field-mappings/:id': 'field_mapping.updated',
      'DELETE integrations/:integration_id/field-mappings/:id': 'field_mapping.deleted',
      'POST integrations/:integration_id/field-mappings/:id/versions': 'field_mapping.version_created',
      // With deliver: true. Without, the export run itself (created_by, the mapping versions it froze) is the record.
      'POST integrations/:integration_id/exports': 'delivery.requested',
      'POST alert-endpoints': 'alert_endpoint.created',
      'POST alert-endpoints/:id/signing-secret': 'alert_endpoint.secret_rotated',
      'DELETE alert-endpoints/:id': 'alert_endpoint.deleted',
    };
    const reflector = t.app.get(Reflector);
    const writes = handlers()
      .filter(({ route, controller, handler }) => {
        const flag = (key: string) => reflector.getAllAndOverride<boolean>(key, [handler, controller]) === true;
        return !route.startsWith('GET') && !flag(IS_PUBLIC) && !flag(NO_SIDE_EFFECTS);
      })
      .map(({ route }) => route.replace(/\/+/g, '/').replace(/\/$/, '').replace(' v1/organizations/:org_id/', ' '))
      .sort();
    expect(writes).toEqual(Object.keys(AUDITED).sort());
    expect(Object.values(AUDITED).filter((action) => !(AUDIT_ACTIONS as readonly string[]).includes(action))).toEqual([]);
  });

  // A client that retries a POST with an Idempotency-Key believes it safe: no POST ignores the key.
  // Each honours it (@Idempotent()), refuses it (@RefusesIdempotencyKey(): its answer is a secret
  // shown once, which is never stored to replay), changes nothing (@NoSideEffects()), is public
  // (inbound webhooks: the sender's headers are not ours to judge), or is listed here with why.
  it('every POST route honours an Idempotency-Key, refuses it, or says why it needs neither; the document says which', async () => {
    const NEITHER: Record<string, string> = {
      // A new test each time, of the credentials as they are now: it stores no resource (an audit
      // event, and a count against its own limit), and a replayed result would be a stale one.
      'POST integrations/:id/connection-test': 'stores nothing to replay',
    };
    const reflector = t.app.get(Reflector);
    const posts = handlers()
      .filter(({ route }) => route.startsWith('POST '))
      .map(({ route, controller, handler }) => {
        const flag = (key: string) => reflector.getAllAndOverride<boolean>(key, [handler, controller]) === true;
        const interceptors = (Reflect.getMetadata(INTERCEPTORS_METADATA, handler) ?? []) as unknown[];
        const guards = (Reflect.getMetadata(GUARDS_METADATA, handler) ?? []) as unknown[];
        const local = route.replace(/\/+/g, '/').replace(/\/$/, '').replace(' v1/organizations/:org_id/', ' ');
        const ways = [
          ...(interceptors.includes(IdempotencyInterceptor) ? ['honours'] : []),
          ...(guards.some((guard) => guard instanceof IdempotencyKeyRefusal) ? ['refuses'] : []),
          ...(flag(NO_SIDE_EFFECTS) ? ['no side effects'] : []),
          ...(flag(IS_PUBLIC) ? ['public'] : []),
          ...(local in NEITHER ? ['listed'] : []),
        ];
        return { route, local, ways };
      });
    expect(posts.length).toBeGreaterThan(12);
    expect(posts.filter((p) => p.ways.length !== 1).map((p) => `${p.local}: ${p.ways.join(', ') || 'none'}`)).toEqual([]);
    expect(Object.keys(NEITHER).filter((route) => !posts.some((p) => p.local === route))).toEqual([]);
    const way = (w: string) => posts.filter((p) => p.ways[0] === w).map((p) => p.local);
    expect(way('refuses').sort()).toEqual(['POST alert-endpoints', 'POST alert-endpoints/:id/signing-secret', 'POST integrations/:id/webhook-secret']);

    // The document lists the key's refusals on each route that honours it, and the refusal on each that refuses it.
    const doc = (await t.http.get('/docs-json')).body;
    const operation = (route: string) =>
      doc.paths[
        `/${route
          .split(' ')[1]
          .replace(/\/+/g, '/')
          .replace(/\/$/, '')
          .replace(/:(\w+)/g, '{$1}')}`
      ].post;
    const documented = (route: string) =>
      Object.values<Record<string, any>>(operation(route).responses).flatMap((response) => Object.keys(response.content?.[PROBLEM_CONTENT_TYPE]?.examples ?? {}));
    const header = (route: string) => (operation(route).parameters ?? []).some((p: { in: string; name: string }) => p.in === 'header' && p.name === 'Idempotency-Key');
    const lacking = posts.flatMap(({ route, local, ways: [w] }) => {
      const codes = documented(route);
      if (w === 'honours') {
        const missing = ['idempotency_key_must_be_valid', 'idempotency_key_in_use', 'idempotency_key_reused_with_other_request'].filter((c) => !codes.includes(c));
        return [...missing, ...(header(route) ? [] : ['the Idempotency-Key header'])].map((c) => `${local}: ${c}`);
      }
      if (w === 'refuses') return codes.includes('idempotency_key_not_supported') ? [] : [`${local}: idempotency_key_not_supported`];
      return codes.some((c) => c.startsWith('idempotency_key_')) || header(route) ? [`${local}: documents a key it ignores`] : [];
    });
    expect(lacking).toEqual([]);
  });

  // Every tenant route, whatever it is: an org_admin of A gets 403 under B's path, and under its own
  // path with B's ids (a config, a mapping, an export run, an alert endpoint) 404, with a body the
  // route would otherwise take; and B's data is exactly as it was. A route whose service forgot the
  // organization in a lookup would answer 2xx here.
  it("no tenant route lets an org_admin reach another organization's data, by its path or by its ids", async () => {
    const api = apiClient(t);
    const [a, b] = [newOrgId(), newOrgId()];
    const [tokenA, tokenB] = [await t.token('org_admin', a), await t.token('org_admin', b)];
    const config = await api.post(
      `/v1/organizations/${b}/integrations`,
      tokenB,
      xledgerConfig({ webhook_url: 'https://x.example/hooks', webhook_secret: `whsec_${'A'.repeat(32)}` }),
    );
    expect(config.status).toBe(201);
    const cfg = `/v1/organizations/${b}/integrations/${config.body.id}`;
    const mappings = await api.post(`${cfg}/field-mappings/bulk`, tokenB, {
      items: [
        { source_field: 'expense_amount', target_field: 'Amount' },
        { source_field: 'expense_date', target_field: 'TransactionDate' },
        { source_field: 'accounting_code', target_field: 'AccountCode', default_value: '4999' },
      ],
    });
    expect(mappings.status).toBe(201);
    const record = { claim_id: 'c1', expense_type: 'travel_km', expense_amount: 1, expense_date: '2026-11-20', currency: 'NOK' };
    const run = await api.post(`${cfg}/exports`, tokenB, { records: [record] });
    expect(run.status).toBe(201);
    const endpoint = await api.post(`/v1/organizations/${b}/alert-endpoints`, tokenB, { url: 'https://ops.example/alerts' });
    expect(endpoint.status).toBe(201);
    const mappingId = mappings.body.items[0].id as string;
    const idsOfB = { integrations: config.body.id as string, 'field-mappings': mappingId, exports: run.body.id as string, 'alert-endpoints': endpoint.body.id as string };
    const stateOfB = async () => ({
      config: (await api.get(cfg, tokenB)).body,
      mappings: (await api.get(`${cfg}/field-mappings`, tokenB)).body,
      exports: (await api.get(`${cfg}/exports`, tokenB)).body,
      endpoints: (await api.get(`/v1/organizations/${b}/alert-endpoints`, tokenB)).body,
      trail: (await api.get(`/v1/organizations/${b}/audit-events?limit=200`, tokenB)).body,
    });
    const before = await stateOfB();
    const ownConfig = await api.post(`/v1/organizations/${a}/integrations`, tokenA, xledgerConfig());
    expect(ownConfig.status).toBe(201);

    // A body each write would take, so that it is the lookup that refuses, not the validation.
    const bodies: Record<string, unknown> = {
      'POST integrations': { integration_type: 'dynamics', display_name: 'D' },
      'PATCH integrations/:id': { display_name: 'taken over' },
      'POST integrations/:id/sync-runs': { status: 'success', started_at: '2026-11-20T10:00:00Z' },
      'POST integrations/:integration_id/field-mappings': { source_field: 'currency', target_field: 'Currency' },
      'POST integrations/:integration_id/field-mappings/bulk': { items: [{ source_field: 'currency', target_field: 'Currency' }] },
      'PUT integrations/:integration_id/field-mappings/order': { ids: [mappingId] },
      'POST integrations/:integration_id/field-mappings/preview': { record },
      'PATCH integrations/:integration_id/field-mappings/:id': { display_label: 'taken over' },
      'POST integrations/:integration_id/field-mappings/:id/versions': { target_field: 'Amount2' },
      'POST integrations/:integration_id/exports/preview': { records: [record] },
      'POST integrations/:integration_id/exports': { records: [record] },
      'POST alert-endpoints': { url: 'https://ops.example/other' },
    };
    const tenantRoutes = handlers()
      .map(({ route }) => route.replace(/\/+/g, '/').replace(/\/$/, ''))
      .filter((route) => route.includes('/:org_id'));
    expect(tenantRoutes.length).toBeGreaterThan(30);
    const nestedRoutes: string[] = [];
    for (const route of tenantRoutes) {
      const [method, template] = route.split(' ');
      const local = template.replace(/^v1\/organizations\/:org_id\/?/, '');
      const body = ['GET', 'DELETE'].includes(method) ? undefined : (bodies[`${method} ${local}`] ?? {});
      // Each id is B's resource of the kind the segment before it names.
      const withIds = (org: string) =>
        `/${template}`.replace(':org_id', org).replace(/([a-z-]+)\/:(id|integration_id)/g, (_m, kind: keyof typeof idsOfB) => `${kind}/${idsOfB[kind] ?? ''}`);
      const send = (path: string) => api[method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete'](path, tokenA, body as never);
      const underB = await send(withIds(b));
      expect([route, underB.status, underB.body.code]).toEqual([route, 403, 'org_scoped_access_only']);
      // Under A's own path: only a route that names a resource of B's can be judged (a create or a list is A's own business).
      if (!/:(id|integration_id)/.test(template)) continue;
      const underA = await send(withIds(a));
      expect([route, underA.status, underA.body.code]).toEqual([route, 404, 'not_found']);
      for (const id of Object.values(idsOfB)) expect(underA.text).not.toContain(id);
      // A's own config with B's mapping or export run under it: the child is looked up in A's organization too.
      if (!/:integration_id\/.+\/:id(\/|$)/.test(template)) continue;
      nestedRoutes.push(route);
      const nested = await send(withIds(a).replace(idsOfB.integrations, ownConfig.body.id as string));
      expect([route, nested.status, nested.body.code]).toEqual([route, 404, 'not_found']);
      for (const id of Object.values(idsOfB)) expect(nested.text).not.toContain(id);
    }
    expect(nestedRoutes).toHaveLength(7);
    // Ids in a body are looked up in the organization too: B's mapping cannot be ordered among A's.
    const order = await api.put(`/v1/organizations/${a}/integrations/${ownConfig.body.id}/field-mappings/order`, tokenA, { ids: [mappingId] });
    expect([order.status, order.body.code]).toEqual([422, 'order_ids_must_belong_to_integration']);
    expect(await stateOfB()).toEqual(before);
  });

  // Deny by default: a query parameter a route does not read is refused (400 unknown_field), on
  // writes as on reads. Without @ValidQuery() or @NoQuery() a route would ignore `?deliver=true`.
  // The exceptions take no query and store none of it, and are called by machines whose URLs
  // others configure: a probe must never be refused (the instance would be restarted), Prometheus
  // may add `params` to a scrape, and a vendor may deliver webhooks to a URL with a query string
  // (refusing it would lose every delivery; nothing of the query is signed or stored).
  it('every route reads its query through a DTO (@ValidQuery()) or refuses any (@NoQuery()), but the probes, the metrics and the inbound webhooks', () => {
    const EXEMPT = ['GET health/live', 'GET health/ready', 'GET metrics', 'POST v1/webhooks/:integration_id'];
    const routes = handlers().map(({ route, controller, name }) => {
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, { pipes?: unknown[] }>;
      const query = Object.entries(args).filter(([key]) => Number(key.split(':')[0]) === RouteParamtypes.QUERY);
      const checked = query.some(([, arg]) => arg.pipes?.some((pipe) => pipe === VALIDATION_PIPE || pipe === NO_QUERY_PIPE));
      return { route: route.replace(/\/+$/, ''), checked };
    });
    expect(routes.filter((r) => r.route.startsWith('POST') || r.route.startsWith('PATCH') || r.route.startsWith('DELETE')).length).toBeGreaterThan(15);
    expect(routes.filter((r) => !r.checked && !EXEMPT.includes(r.route)).map((r) => r.route)).toEqual([]);
    // An exemption that became checked is dropped from the list.
    expect(routes.filter((r) => r.checked && EXEMPT.includes(r.route)).map((r) => r.route)).toEqual([]);
  });

  // The rate limits are taken in Fastify's first hooks (limitBeforeBody) only on routes flagged for
  // it; on any other the guard takes them after the body was read and parsed (up to 10 MiB).
  it('every route that takes a body and is rate-limited has its budget taken before the body is read', () => {
    const reflector = t.app.get(Reflector);
    const routes = handlers()
      .filter(({ route }) => /^(POST|PUT|PATCH) /.test(route))
      .filter(({ controller, handler }) => !reflector.getAllAndOverride<boolean>(NOT_RATE_LIMITED, [handler, controller]))
      .map(({ route, handler }) => {
        const config = (Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler) ?? {}) as Record<string, unknown>;
        return { route, early: config[AUTHENTICATED_ROUTE] === true || config[PUBLIC_BUDGET_ROUTE] === true };
      });
    expect(routes.length).toBeGreaterThan(15);
    expect(routes.filter((r) => !r.early).map((r) => r.route)).toEqual([]);
  });
});
