import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Page, PageQueryDto } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { WebhookEventEntity } from './webhook-event.entity';

/** Idempotent on (integration_id, webhook_id): a delivery sent twice is stored once (the raw benchmark baseline runs it too). */
export const WEBHOOK_EVENT_INSERT_SQL = `INSERT INTO webhook_events (organization_id, integration_id, webhook_id, signature_scheme, payload, content_type)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (integration_id, webhook_id) DO NOTHING RETURNING id`;

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

  listPage(orgId: string, integrationId: string, page: PageQueryDto): Promise<Page<WebhookEventEntity>> {
    return this.keysetPage(WebhookEventEntity, { organization_id: orgId, integration_id: integrationId }, page, { key: 'seq', order: 'DESC' });
  }
}
