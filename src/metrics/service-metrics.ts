// The service's Prometheus metrics, on a registry of their own (one per application: tests and
// host applications run several in one process, and prom-client's default registry is global).
// Pure: no Nest imports. Label values are bounded sets (methods, route templates, statuses,
// integration types, outcomes): never an organization, config or user id, nor a secret.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DeliveryMetrics, type AlertSendOutcome, type AttemptStatus } from './delivery-metrics';

/** Every metric name of the service starts with this. */
export const METRIC_PREFIX = 'meander_';

/** The label of a request that matched no route: its URL could be anything, ids included. */
export const UNMATCHED_ROUTE = 'unmatched';

/** A queue as one look at pg-boss's table sees it. */
export interface QueueSnapshot {
  /** Jobs waiting for a worker now (created or retry, their start time passed). */
  due: number;
  /** Jobs waiting for a later start (a schedule's next slot, a retry's backoff). */
  scheduled: number;
  /** How long the oldest due job has waited since it became due; 0 when none is due. */
  oldestDueSeconds: number;
}

/** The delivery and alert queues, read together. */
export interface JobQueuesSnapshot {
  delivery: QueueSnapshot;
  alerts: QueueSnapshot;
}

export interface CacheLookups {
  hits: number;
  misses: number;
}

export interface ServiceMetricsSources {
  /** Read at each scrape: the delivery and alert queues (null: unreadable, reported as NaN). */
  queues?: () => Promise<JobQueuesSnapshot | null>;
  /** Read at each scrape: lookups of the process's caches, by cache name (counts since start). */
  cacheLookups?: () => Record<string, CacheLookups>;
  /** Read at each scrape: entries held by the caches, by cache name. */
  cacheEntries?: () => Record<string, number>;
  /** Read at each scrape: requests sent to each integration type's external system (counts since start). */
  vendorRequests?: () => Record<string, number>;
  /** Node's own process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
}

// Seconds: most answers take a few milliseconds; exports and previews of many records take seconds.
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServiceMetrics extends DeliveryMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route'>;
  private readonly deliveryAttempts: Counter<'integration_type' | 'outcome'>;
  private readonly rowsDelivered: Counter<'integration_type'>;
  private readonly rowsRefused: Counter<'integration_type'>;
  private readonly alertSends: Counter<'outcome'>;

  constructor(sources: ServiceMetricsSources = {}) {
    super();
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by method, route template (never the URL) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Time from the request to its answer, by method and route template.',
      labelNames: ['method', 'route'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.deliveryAttempts = new Counter({
      name: `${METRIC_PREFIX}delivery_attempts_total`,
      help: 'Delivery attempts recorded (one sync run each), by integration type and outcome (success, partial, failed).',
      labelNames: ['integration_type', 'outcome'],
      registers,
    });
    this.rowsDelivered = new Counter({
      name: `${METRIC_PREFIX}rows_delivered_total`,
      help: 'Rows the external systems accepted, by integration type.',
      labelNames: ['integration_type'],
      registers,
    });
    this.rowsRefused = new Counter({
      name: `${METRIC_PREFIX}rows_refused_total`,
      help: 'Rows the external systems refused, by integration type.',
      labelNames: ['integration_type'],
      registers,
    });
    this.alertSends = new Counter({
      name: `${METRIC_PREFIX}alert_sends_total`,
      help: 'Sends of failure alerts to the alert endpoints, by outcome: delivered (2xx), failed (retried), refused (the egress rule; dropped).',
      labelNames: ['outcome'],
      registers,
    });
    if (sources.queues) this.queueGauges(sources.queues);
    if (sources.cacheLookups) this.cacheCounters(sources.cacheLookups);
    if (sources.cacheEntries) {
      const entries = sources.cacheEntries;
      new Gauge({
        name: `${METRIC_PREFIX}token_cache_entries`,
        help: 'Tokens (or token verdicts) a cache holds, by cache.',
        labelNames: ['cache'],
        registers,
        collect() {
          for (const [cache, size] of Object.entries(entries())) this.set({ cache }, size);
        },
      });
    }
    if (sources.vendorRequests) {
      this.mirroredCounter(
        'vendor_requests_total',
        "Requests sent to the external systems (token requests included), by integration type: with rows_delivered_total, requests per delivered row (Xledger's quota counts requests).",
        'integration_type',
        sources.vendorRequests,
      );
    }
    if (sources.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** One answered request; `route` is the matched route's template, or undefined when none matched. */
  httpRequestEnded(method: string, route: string | undefined, status: number, seconds: number): void {
    const template = route ?? UNMATCHED_ROUTE;
    this.httpRequests.inc({ method, route: template, status: String(status) });
    this.httpDuration.observe({ method, route: template }, seconds);
  }

  attemptEnded(integrationType: string, outcome: { status: AttemptStatus; delivered: number; refused?: number; stopped?: boolean }): void {
    // A stopped attempt is its own outcome: an alert on `failed` must not fire on every deploy.
    this.deliveryAttempts.inc({ integration_type: integrationType, outcome: outcome.stopped ? 'stopped' : outcome.status });
    if (outcome.delivered > 0) this.rowsDelivered.inc({ integration_type: integrationType }, outcome.delivered);
    if ((outcome.refused ?? 0) > 0) this.rowsRefused.inc({ integration_type: integrationType }, outcome.refused);
  }

  alertSendEnded(outcome: AlertSendOutcome): void {
    this.alertSends.inc({ outcome });
  }

  /** The text a scrape answers (Prometheus text format 0.0.4). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private queueGauges(read: () => Promise<JobQueuesSnapshot | null>): void {
    // One read per scrape serves the six gauges: whichever collects first starts it.
    let pending: Promise<JobQueuesSnapshot | null> | undefined;
    const snapshot = () => {
      pending ??= read().finally(() => setImmediate(() => (pending = undefined)));
      return pending;
    };
    const gauge = (name: string, help: string, value: (s: JobQueuesSnapshot) => number) =>
      new Gauge({
        name: `${METRIC_PREFIX}${name}`,
        help,
        registers: [this.registry],
        async collect() {
          const s = await snapshot();
          this.set(s ? value(s) : NaN);
        },
      });
    gauge('delivery_queue_depth', 'Delivery jobs waiting for a worker now (NaN: the queue could not be read).', (s) => s.delivery.due);
    gauge('delivery_queue_scheduled', 'Delivery jobs waiting for a later start: a schedule slot or a retry backoff (NaN: unreadable).', (s) => s.delivery.scheduled);
    gauge(
      'delivery_queue_oldest_age_seconds',
      'Seconds the oldest due delivery job has waited for a worker; 0 when none waits (NaN: unreadable).',
      (s) => s.delivery.oldestDueSeconds,
    );
    gauge('alert_queue_depth', 'Failure alerts waiting for a sender now (NaN: the queue could not be read).', (s) => s.alerts.due);
    gauge('alert_queue_scheduled', 'Failure alerts waiting out a retry backoff: their endpoint did not take them (NaN: unreadable).', (s) => s.alerts.scheduled);
    gauge('alert_queue_oldest_age_seconds', 'Seconds the oldest due alert has waited for a sender; 0 when none waits (NaN: unreadable).', (s) => s.alerts.oldestDueSeconds);
  }

  private cacheCounters(read: () => Record<string, CacheLookups>): void {
    const each = (value: (l: CacheLookups) => number) => () => Object.fromEntries(Object.entries(read()).map(([cache, lookups]) => [cache, value(lookups)]));
    this.mirroredCounter(
      'token_cache_hits_total',
      'Token cache lookups answered from the cache, by cache.',
      'cache',
      each((l) => l.hits),
    );
    this.mirroredCounter(
      'token_cache_misses_total',
      'Token cache lookups that had to fetch a token, by cache.',
      'cache',
      each((l) => l.misses),
    );
  }

  /** A counter something else keeps (a cache, the connectors count for themselves): its totals copied in at each scrape. */
  private mirroredCounter(name: string, help: string, label: string, read: () => Record<string, number>): void {
    new Counter({
      name: `${METRIC_PREFIX}${name}`,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [value, total] of Object.entries(read())) this.inc({ [label]: value }, total);
      },
    });
  }
}
