// What an alert says and how it is signed. Pure: no Nest imports.
import { randomUUID } from 'node:crypto';
import { signStandardWebhook } from '../webhooks/signatures';

export const ALERT_TYPES = ['delivery.failed', 'credentials.rejected', 'integration.paused'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

/** One alert as its endpoint receives it (the JSON body); `id` is also the `webhook-id`, stable across retries. */
export interface AlertEvent {
  id: string;
  type: AlertType;
  /** When it happened, RFC 3339. */
  timestamp: string;
  data: {
    organization_id: string;
    integration_id: string;
    integration_type: string;
    export_run_id?: string;
    attempts?: number;
    consecutive_failures?: number;
    /** Already scrubbed of every secret of the organization. */
    error?: string;
  };
}

export function alertEvent(type: AlertType, data: AlertEvent['data'], at = new Date()): AlertEvent {
  return { id: `alert_${randomUUID()}`, type, timestamp: at.toISOString(), data };
}

/**
 * The Standard Webhooks headers of one send: `webhook-id` (the event's), `webhook-timestamp`
 * (now: each retry is signed afresh, so a receiver's 5-minute window holds) and `webhook-signature`.
 */
export function signedHeaders(secret: string, event: AlertEvent, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': event.id,
    'webhook-timestamp': String(timestamp),
    // The service's own signer, byte-exact over the body it sends (the one inbound webhooks are checked with).
    'webhook-signature': `v1,${signStandardWebhook(secret, event.id, timestamp, Buffer.from(body))}`,
  };
}
