import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import type { Keyset, KeysetPage } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { WebhookEventEntity } from './webhook-event.entity';

/** Idempotent on (integration_id, webhook_id): a delivery sent twice is stored once (the raw benchmark baseline runs it too). */
export const WEBHOOK_EVENT_INSERT_SQL = `INSERT INTO webhook_events (organization_id, integration_id, webhook_id, signature_scheme, payload, content_type)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (integration_id, webhook_id) DO NOTHING RETURNING id`;

/**
 * Payload bytes one page of events carries at most (a page always holds at least one event): 200
 * bodies of 1 MiB that are not UTF-8 were a response of ~900 MB (text and base64 of each).
 */
const MAX_PAGE_PAYLOAD_BYTES = 4 * 1024 * 1024;

export type NewWebhookEvent = Pick<WebhookEventEntity, 'webhook_id' | 'signature_scheme' | 'payload' | 'content_type'>;

/** webhook_events: verified inbound deliveries, byte-exact. */
@Injectable()
export class WebhookEventRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  /** The new event's id, or null when this webhook id was already received for the integration. */
  async insertOnce(orgId: string, integrationId: string, event: NewWebhookEvent): Promise<string | null> {
    const inserted = await this.rows<{ id: string }>(WEBHOOK_EVENT_INSERT_SQL, [orgId, integrationId, event.webhook_id, event.signature_scheme, event.payload, event.content_type]);
    return inserted[0]?.id ?? null;
  }

  /** Newest first after `keyset.after`: at most `limit` events and MAX_PAGE_PAYLOAD_BYTES of their payloads; nextAfter whenever more follow. */
  async listPage(orgId: string, integrationId: string, keyset: Keyset): Promise<KeysetPage<WebhookEventEntity>> {
    const { after, limit } = keyset;
    // The sizes first (octet_length reads no TOASTed bytes), then the payloads of the events that fit.
    const sizes = await this.rows<{ seq: string; bytes: number }>(
      `SELECT seq, octet_length(payload) AS bytes FROM webhook_events WHERE organization_id = $1 AND integration_id = $2${after === null ? '' : ' AND seq < $4'}
        ORDER BY seq DESC LIMIT $3`,
      after === null ? [orgId, integrationId, limit + 1] : [orgId, integrationId, limit + 1, after],
    );
    let count = 0;
    for (let total = 0; count < Math.min(limit, sizes.length); count++) {
      total += sizes[count].bytes;
      if (count > 0 && total > MAX_PAGE_PAYLOAD_BYTES) break;
    }
    if (count === 0) return { items: [], nextAfter: null };
    const seqs = sizes.slice(0, count).map((row) => row.seq);
    const items = await this.repository(WebhookEventEntity).find({ where: { organization_id: orgId, integration_id: integrationId, seq: In(seqs) }, order: { seq: 'DESC' } });
    return { items, nextAfter: sizes.length > count ? seqs[count - 1] : null };
  }
}
