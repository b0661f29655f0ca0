import { randomUUID } from 'node:crypto';
import { Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { Egress } from '../connectors/connectors.module';
import { SecretCipher } from '../crypto/secret-cipher';
import { TransactionRunner, type Transaction } from '../database/transaction';
import { EgressRefused } from '../egress/outbound-http';
import { JobQueue, type AlertJob } from '../job-queue/job-queue';
import { DeliveryMetrics } from '../metrics/delivery-metrics';
import { alertSecretLocation, AlertEndpointEntity } from './alert-endpoint.entity';
import { AlertEndpointRepository } from './alert-endpoint.repository';
import { newWebhookSecret } from '../webhooks/signatures';
import { ALERT_TYPES, alertEvent, signedHeaders, type AlertEvent, type AlertType } from './alert-event';
import { MAX_ALERT_ENDPOINTS, type AlertEndpointCreatedResponse, type AlertEndpointResponse, type CreateAlertEndpointDto } from './dto/alert-endpoint.dto';

const ENDPOINT = 'Alert endpoint';
/** An endpoint's answer is read only to see its status: a few KiB is plenty, and a longer one is cut there, not failed (a 2xx took the alert). */
const MAX_ANSWER_BYTES = 16 * 1024;
const SEND_TIMEOUT_MS = 10_000;
/** Alert sends at once per instance: one endpoint that never answers holds up one of them, not every organization's alerts. */
const ALERT_WORKERS = 4;

/**
 * Failure alerts: an organization's endpoints, and the alerts the delivery engine raises, sent as
 * durable jobs (each retried with backoff until its endpoint answers 2xx), signed with the
 * endpoint's own Standard Webhooks secret.
 */
@Injectable()
export class AlertsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Alerts');
  /** Sends under way: shutdown waits for them before the outbound connections close. */
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly endpoints: AlertEndpointRepository,
    private readonly transactions: TransactionRunner,
    private readonly cipher: SecretCipher,
    private readonly audit: AuditService,
    private readonly jobs: JobQueue,
    private readonly egress: Egress,
    private readonly config: AppConfig,
    @Optional() private readonly metrics?: DeliveryMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // The instances that deliver also send the alerts; an API-only instance only queues them.
    if (this.config.deliveryWorkers > 0) await this.jobs.workAlerts(ALERT_WORKERS, (job) => this.tracked(job));
  }

  /**
   * SIGTERM: no alert job is taken any more, and the sends under way finish (each within its
   * timeout) before the outbound connections close; cut off, one would be retried and may arrive twice.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.jobs.stopWorkingAlerts();
    await Promise.allSettled([...this.sending]);
  }

  private tracked(job: AlertJob): Promise<void> {
    const sent = this.send(job);
    const settled: Promise<void> = sent.then(
      () => void this.sending.delete(settled),
      () => void this.sending.delete(settled),
    );
    this.sending.add(settled);
    return sent;
  }

  async list(orgId: string): Promise<AlertEndpointResponse[]> {
    return (await this.endpoints.listByOrg(orgId)).map(toResponse);
  }

  async get(orgId: string, id: string): Promise<AlertEndpointResponse> {
    return toResponse(foundOr404(await this.endpoints.findByOrgAndId(orgId, id), ENDPOINT));
  }

  async create(orgId: string, dto: CreateAlertEndpointDto, actor: Principal): Promise<AlertEndpointCreatedResponse> {
    const secret = newWebhookSecret();
    const id = randomUUID();
    const description = dto.description?.trim() || null;
    const endpoint = await this.transactions.run(async (tx) => {
      const endpoints = this.endpoints.in(tx);
      if ((await endpoints.countByOrgLocked(orgId)) >= MAX_ALERT_ENDPOINTS) {
        throw new RuleViolation('alert_endpoints_within_bounds', `An organization has at most ${MAX_ALERT_ENDPOINTS} alert endpoints: delete one first.`);
      }
      await endpoints.insert(
        Object.assign(new AlertEndpointEntity(), {
          id,
          organization_id: orgId,
          url: dto.url,
          description,
          signing_secret_encrypted: this.cipher.encrypt(secret, alertSecretLocation(id)),
          created_by: actor.sub,
        }),
      );
      await this.audit.record(
        {
          orgId,
          actor,
          action: 'alert_endpoint.created',
          resource: { type: 'alert_endpoint', id },
          changedFields: ['url', ...(description === null ? [] : ['description']), 'signing_secret'],
        },
        tx,
      );
      return foundOr404(await endpoints.findByOrgAndId(orgId, id), ENDPOINT);
    });
    return { ...toResponse(endpoint), signing_secret: secret };
  }

  async rotateSecret(orgId: string, id: string, actor: Principal): Promise<string> {
    const secret = newWebhookSecret();
    await this.transactions.run(async (tx) => {
      if (!(await this.endpoints.in(tx).updateSecret(orgId, id, this.cipher.encrypt(secret, alertSecretLocation(id))))) throw RuleViolation.notFound(ENDPOINT);
      await this.audit.record({ orgId, actor, action: 'alert_endpoint.secret_rotated', resource: { type: 'alert_endpoint', id }, changedFields: ['signing_secret'] }, tx);
    });
    return secret;
  }

  async remove(orgId: string, id: string, actor: Principal): Promise<void> {
    await this.transactions.run(async (tx) => {
      if (!(await this.endpoints.in(tx).deleteByOrgAndId(orgId, id))) throw RuleViolation.notFound(ENDPOINT);
      await this.audit.record({ orgId, actor, action: 'alert_endpoint.deleted', resource: { type: 'alert_endpoint', id } }, tx);
    });
  }

  /**
   * Queues the alert for each of the organization's endpoints, in `tx`: the jobs commit with the
   * change they report (a run failed, a config paused) or not at all, so no alert is lost between
   * the two, nor sent for a change that rolled back.
   */
  async raise(orgId: string, type: AlertType, data: Omit<AlertEvent['data'], 'organization_id'>, tx: Transaction): Promise<void> {
    const event = alertEvent(type, { organization_id: orgId, ...data });
    for (const endpoint of await this.endpoints.in(tx).listByOrg(orgId)) await this.jobs.enqueueAlert({ orgId, endpointId: endpoint.id, event }, tx);
  }

  /** One send of one alert; throws (the job is retried) unless the endpoint answers 2xx. */
  async send(job: AlertJob): Promise<void> {
    const endpoint = await this.endpoints.findByOrgAndId(job.orgId, job.endpointId);
    if (!endpoint) return; // Deleted since: nobody to tell.
    const event = job.event as AlertEvent;
    const body = JSON.stringify(event);
    const secret = this.cipher.decrypt(endpoint.signing_secret_encrypted, alertSecretLocation(endpoint.id));
    try {
      const answer = await this.egress.client.request({
        url: endpoint.url,
        method: 'POST',
        headers: signedHeaders(secret, event, body),
        body,
        timeoutMs: SEND_TIMEOUT_MS,
        maxResponseBytes: MAX_ANSWER_BYTES,
        truncateResponse: true,
      });
      if (answer.status < 200 || answer.status > 299) throw new Error(`the alert endpoint answered ${answer.status}`);
      this.logger.log({ event: 'alert_sent', org_id: job.orgId, endpoint_id: endpoint.id, alert_id: event.id, type: event.type });
      this.metrics?.alertSendEnded('delivered');
    } catch (error) {
      // A destination the egress rule refuses stays refused: retrying would only repeat the refusal.
      if (error instanceof EgressRefused) {
        this.metrics?.alertSendEnded('refused');
        this.logger.warn({ event: 'alert_refused_by_egress', org_id: job.orgId, endpoint_id: endpoint.id, host: error.host });
        // In the trail too: the organization sees why its endpoint heard nothing.
        return this.audit.recordEgressRefusal(job.orgId, { type: 'alert_endpoint', id: endpoint.id }, error, 'alert', null);
      }
      this.metrics?.alertSendEnded('failed');
      throw error;
    }
  }
}

function toResponse(endpoint: AlertEndpointEntity): AlertEndpointResponse {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    events: [...ALERT_TYPES],
    created_by: endpoint.created_by,
    created_at: endpoint.created_at.toISOString(),
  };
}
