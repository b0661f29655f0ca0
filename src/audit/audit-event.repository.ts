import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Keyset, KeysetPage } from '../common/pagination';
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

  /**
   * Newest first, a keyset page over `seq`, read from this organization's indexes only. A
   * `resource_id` is two ordered scans of at most a page each, (organization_id, resource_id, seq)
   * and (organization_id, integration_id, seq), merged: as one OR the planner either read all of
   * the resource's events and sorted them, or walked the organization's whole trail for a quiet
   * resource. A `from`/`to` window is read by this organization's (organization_id, UTC
   * occurred_at) index or its seq index, never by the retention job's (every tenant's events).
   */
  async listPage(orgId: string, filter: AuditEventFilter, keyset: Keyset): Promise<KeysetPage<AuditEventEntity>> {
    const { after, limit } = keyset;
    const parameters: unknown[] = [orgId];
    const parameter = (value: unknown) => `$${parameters.push(value)}`;
    const where = ['organization_id = $1'];
    if (filter.action) where.push(`action = ${parameter(filter.action)}`);
    // `from` inclusive, `to` exclusive; either may be open. Compared in UTC (the same order), the
    // expression of idx_audit_events_org_occurred_at: the retention job's idx_audit_events_occurred_at
    // (every tenant's events) cannot serve it. With the plain column the planner took that one for a
    // narrow window whenever the organization held a fair share of the table.
    if (filter.from) where.push(`timezone('UTC', occurred_at) >= timezone('UTC', ${parameter(filter.from)}::timestamptz)`);
    if (filter.to) where.push(`timezone('UTC', occurred_at) < timezone('UTC', ${parameter(filter.to)}::timestamptz)`);
    if (after !== null) where.push(`seq < ${parameter(after)}`);
    const take = parameter(limit + 1);
    const newest = (conditions: string[]) => `SELECT * FROM audit_events WHERE ${conditions.join(' AND ')} ORDER BY seq DESC LIMIT ${take}`;
    let sql = newest(where);
    if (filter.resourceId) {
      const id = parameter(filter.resourceId);
      // A config's own events are on both sides (their integration_id is the config): kept once.
      sql = `SELECT DISTINCT ON (seq) * FROM ((${newest([...where, `resource_id = ${id}`])}) UNION ALL (${newest([...where, `integration_id = ${id}`])})) e
        ORDER BY seq DESC LIMIT ${take}`;
    }
    const rows = await this.rows<AuditEventEntity>(sql, parameters);
    const items = rows.slice(0, limit);
    return { items, nextAfter: rows.length > limit ? String(items[items.length - 1].seq) : null };
  }
}
