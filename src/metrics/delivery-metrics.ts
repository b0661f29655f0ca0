// The delivery engine's view of the metrics: what it reports of each attempt. Pure: no Nest, no
// prom-client, so the engine imports nothing of the HTTP service's metrics to report to them.

/** How a send of an alert to an endpoint ended. */
export type AlertSendOutcome = 'delivered' | 'failed' | 'refused';

/** How an attempt ended, as its sync run records it. */
export type AttemptStatus = 'success' | 'partial' | 'failed';

/** What the delivery engine reports of each attempt it records (a Nest injection token too). */
export abstract class DeliveryMetrics {
  /**
   * One attempt at a run ended: its outcome, the rows the system accepted and those it refused.
   * `stopped`: on purpose (the config disabled or paused, the instance shutting down), not a failure.
   */
  abstract attemptEnded(integrationType: string, outcome: { status: AttemptStatus; delivered: number; refused?: number; stopped?: boolean }): void;

  /** One send of a failure alert ended: taken (2xx), failed (retried), or refused by the egress rule (dropped). */
  abstract alertSendEnded(outcome: AlertSendOutcome): void;
}
