import { TokenCache, tokenCacheLookups } from '../connectors/dynamics/token-cache';
import { carriesMetricsToken } from './metrics-token';
import { routeTemplate } from './http-metrics';
import { METRICS_CONTENT_TYPE } from './metrics.controller';
import { ServiceMetrics, type JobQueuesSnapshot } from './service-metrics';

/** The value of a sample line, exactly as written (labels in declaration order). */
const valueOf = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('service metrics', () => {
  it('counts a request under its route template, or "unmatched", with its status and duration', async () => {
    const metrics = new ServiceMetrics({ processMetrics: false });
    metrics.httpRequestEnded('GET', '/v1/organizations/:org_id/integrations/:id', 200, 0.003);
    metrics.httpRequestEnded('GET', '/v1/organizations/:org_id/integrations/:id', 200, 0.2);
    metrics.httpRequestEnded('GET', undefined, 404, 0.001);
    const text = await metrics.scrape();
    expect(valueOf(text, 'meander_http_requests_total{method="GET",route="/v1/organizations/:org_id/integrations/:id",status="200"}')).toBe(2);
    expect(valueOf(text, 'meander_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(valueOf(text, 'meander_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/organizations/:org_id/integrations/:id"}')).toBe(1);
    expect(valueOf(text, 'meander_http_request_duration_seconds_count{method="GET",route="/v1/organizations/:org_id/integrations/:id"}')).toBe(2);
  });

  it('counts attempts by type and outcome, and the rows delivered and refused', async () => {
    const metrics = new ServiceMetrics({ processMetrics: false });
    metrics.attemptEnded('xledger', { status: 'success', delivered: 4 });
    metrics.attemptEnded('xledger', { status: 'partial', delivered: 2, refused: 1 });
    metrics.attemptEnded('dynamics', { status: 'failed', delivered: 0 });
    // Stopped on purpose (disabled, paused, shutdown): its own outcome, never `failed`; its rows count.
    metrics.attemptEnded('xledger', { status: 'partial', delivered: 3, stopped: true });
    metrics.attemptEnded('dynamics', { status: 'failed', delivered: 0, stopped: true });
    const text = await metrics.scrape();
    expect({
      success: valueOf(text, 'meander_delivery_attempts_total{integration_type="xledger",outcome="success"}'),
      partial: valueOf(text, 'meander_delivery_attempts_total{integration_type="xledger",outcome="partial"}'),
      failed: valueOf(text, 'meander_delivery_attempts_total{integration_type="dynamics",outcome="failed"}'),
      stopped: valueOf(text, 'meander_delivery_attempts_total{integration_type="xledger",outcome="stopped"}'),
      dynamicsStopped: valueOf(text, 'meander_delivery_attempts_total{integration_type="dynamics",outcome="stopped"}'),
      delivered: valueOf(text, 'meander_rows_delivered_total{integration_type="xledger"}'),
      refused: valueOf(text, 'meander_rows_refused_total{integration_type="xledger"}'),
      // A type that delivered nothing has no rows sample.
      dynamicsRows: valueOf(text, 'meander_rows_delivered_total{integration_type="dynamics"}'),
    }).toEqual({ success: 1, partial: 1, failed: 1, stopped: 1, dynamicsStopped: 1, delivered: 9, refused: 1, dynamicsRows: undefined });
  });

  it('reads the queues once per scrape for their six gauges, and reports unreadable queues as NaN', async () => {
    let reads = 0;
    let next: JobQueuesSnapshot | null = { delivery: { due: 3, scheduled: 7, oldestDueSeconds: 12.5 }, alerts: { due: 2, scheduled: 4, oldestDueSeconds: 61 } };
    const metrics = new ServiceMetrics({ processMetrics: false, queues: async () => (reads++, next) });
    const text = await metrics.scrape();
    const gauges = (queue: string) => ['depth', 'scheduled', 'oldest_age_seconds'].map((gauge) => valueOf(text, `meander_${queue}_queue_${gauge}`));
    expect({ delivery: gauges('delivery'), alert: gauges('alert') }).toEqual({ delivery: [3, 7, 12.5], alert: [2, 4, 61] });
    expect(reads).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    next = null;
    const unreadable = await metrics.scrape();
    expect(reads).toBe(2);
    // prom-client writes `Nan`; Prometheus reads NaN in any case (Go's ParseFloat).
    expect(unreadable).toMatch(/^meander_delivery_queue_depth nan$/im);
    expect(unreadable).toMatch(/^meander_delivery_queue_oldest_age_seconds nan$/im);
    expect(unreadable).toMatch(/^meander_alert_queue_depth nan$/im);
  });

  it("shows the caches' own counts at each scrape", async () => {
    let lookups = { hits: 2, misses: 1 };
    const metrics = new ServiceMetrics({ processMetrics: false, cacheLookups: () => ({ dynamics: lookups }), cacheEntries: () => ({ auth: 5 }) });
    expect(valueOf(await metrics.scrape(), 'meander_token_cache_hits_total{cache="dynamics"}')).toBe(2);
    lookups = { hits: 9, misses: 4 };
    const text = await metrics.scrape();
    expect([valueOf(text, 'meander_token_cache_hits_total{cache="dynamics"}'), valueOf(text, 'meander_token_cache_misses_total{cache="dynamics"}')]).toEqual([9, 4]);
    expect(valueOf(text, 'meander_token_cache_entries{cache="auth"}')).toBe(5);
  });

  it('keeps a registry per instance (several applications in one process), with the process metrics when asked', async () => {
    const first = new ServiceMetrics();
    const second = new ServiceMetrics();
    first.attemptEnded('xledger', { status: 'success', delivered: 1 });
    expect(valueOf(await second.scrape(), 'meander_delivery_attempts_total{integration_type="xledger",outcome="success"}')).toBeUndefined();
    expect(await second.scrape()).toMatch(/^meander_process_cpu_seconds_total /m);
    expect(first.contentType).toBe(METRICS_CONTENT_TYPE);
  });
});

describe('the Dynamics token cache counts its lookups', () => {
  it('a request for a token is a miss; a cached or shared token is a hit', async () => {
    const cache = new TokenCache();
    const identity = { configId: 'c1', tenant: 't', clientId: 'id', clientSecret: 's', authority: 'https://login.example', scope: 'x/.default' };
    const start = tokenCacheLookups();
    let release!: (token: { accessToken: string; expiresInSeconds: number }) => void;
    const fetch = () => new Promise<{ accessToken: string; expiresInSeconds: number }>((resolve) => (release = resolve));
    const first = cache.get(identity, fetch);
    const shared = cache.get(identity, fetch);
    release({ accessToken: 'a', expiresInSeconds: 3600 });
    await Promise.all([first, shared]);
    await cache.get(identity, fetch);
    const end = tokenCacheLookups();
    expect({ hits: end.hits - start.hits, misses: end.misses - start.misses }).toEqual({ hits: 2, misses: 1 });
  });
});

describe('the metrics token', () => {
  const token = 'metrics-scrape-token-0123456789-abcdefghijklmnop';

  it('is accepted only as exactly itself, as a bearer credential', () => {
    expect(carriesMetricsToken(`Bearer ${token}`, token)).toBe(true);
    expect(carriesMetricsToken(`bearer  ${token} `, token)).toBe(true);
    for (const header of [undefined, '', 'Bearer', `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token, `Bearer ${token} ${token}`, [`Bearer ${token}`]]) {
      expect({ header, accepted: carriesMetricsToken(header, token) }).toEqual({ header, accepted: false });
    }
  });
});

describe('the route a request is counted under', () => {
  it('is the template it matched, never its URL; none when it matched no route', () => {
    const request = (url: string | undefined, is404 = false) => ({ routeOptions: { url }, is404 }) as Parameters<typeof routeTemplate>[0];
    expect(routeTemplate(request('/v1/organizations/:org_id/integrations/:id'))).toBe('/v1/organizations/:org_id/integrations/:id');
    expect(routeTemplate(request(undefined, true))).toBeUndefined();
    // Fastify's catch-all 404 route has a template of its own: still unmatched.
    expect(routeTemplate(request('*', true))).toBeUndefined();
    expect(routeTemplate(request(''))).toBeUndefined();
  });
});
