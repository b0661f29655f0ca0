import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DEFAULT_PAGE_SIZE, encodeSeqCursor, seqCursorAfter, type Page, type PageQueryDto } from '../common/pagination';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { AuditEventEntity } from './audit-event.entity';

export type NewAuditEvent = Omit<AuditEventEntity, 'seq' | 'id' | 'occurred_at'>;

export interface AuditEventFilter {
  /** The event's own resource, or the config it belongs to (a config's id lists its mappings' events too). */
  resourceId?: string;
  action?: string;
  from?: Date;
  to?: Date;
}

const COLUMNS =
  'seq, id, organization_id, occurred_at, actor_sub, actor_role, actor_organization_id, resource_type, resource_id, integration_id, action, changed_fields, request_id, details';

/** audit_events: insert and read only; nothing here updates or deletes a row (retention prunes by age). */
@Injectable()
export class AuditEventRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  async insert(event: NewAuditEvent): Promise<void> {
    await this.rows(
      `INSERT INTO audit_events (organization_id, actor_sub, actor_role, actor_organization_id, resource_type, resource_id, integration_id, action, changed_fields, request_id, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        event.organization_id,
        event.actor_sub,
        event.actor_role,
        event.actor_organization_id,
        event.resource_type,
        event.resource_id,
        event.integration_id,
        event.action,
        event.changed_fields,
        event.request_id,
        JSON.stringify(event.details),
      ],
    );
  }

  /** Newest first, a keyset page over `seq`. */
  async listPage(orgId: string, filter: AuditEventFilter, page: PageQueryDto): Promise<Page<AuditEventEntity>> {
    const limit = page.limit ?? DEFAULT_PAGE_SIZE;
    const where = ['organization_id = $1'];
    const parameters: unknown[] = [orgId];
    const add = (condition: (n: string) => string, value: unknown) => {
      parameters.push(value);
      where.push(condition(`$${parameters.length}`));
    };
    const after = seqCursorAfter(page);
    if (after !== null) add((n) => `seq < ${n}`, after);
    if (filter.resourceId) add((n) => `(resource_id = ${n} OR integration_id = ${n})`, filter.resourceId);
    if (filter.action) add((n) => `action = ${n}`, filter.action);
    if (filter.from) add((n) => `occurred_at >= ${n}`, filter.from);
    if (filter.to) add((n) => `occurred_at < ${n}`, filter.to);
    parameters.push(limit + 1);
    const rows = await this.rows<AuditEventEntity>(`SELECT ${COLUMNS} FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${parameters.length}`, parameters);
    const items = rows.slice(0, limit);
    return { items, next_cursor: rows.length > limit ? encodeSeqCursor(String(items[items.length - 1].seq)) : null };
  }
}
