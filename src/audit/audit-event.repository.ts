import { Injectable } from '@nestjs/common';
import { And, DataSource, LessThan, MoreThanOrEqual, type FindOperator, type FindOptionsWhere } from 'typeorm';
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

  /** Newest first, a keyset page over `seq`. */
  listPage(orgId: string, filter: AuditEventFilter, keyset: Keyset): Promise<KeysetPage<AuditEventEntity>> {
    const common: FindOptionsWhere<AuditEventEntity> = {
      organization_id: orgId,
      ...(filter.action ? { action: filter.action } : {}),
      ...(filter.from || filter.to ? { occurred_at: between(filter.from, filter.to) } : {}),
    };
    const where = filter.resourceId
      ? [
          { ...common, resource_id: filter.resourceId },
          { ...common, integration_id: filter.resourceId },
        ]
      : common;
    return this.keysetPage(AuditEventEntity, where, keyset, { key: 'seq', order: 'DESC' });
  }
}

/** `from` inclusive, `to` exclusive; either may be open. */
function between(from: Date | undefined, to: Date | undefined): FindOperator<Date> {
  if (from && to) return And(MoreThanOrEqual(from), LessThan(to));
  return from ? MoreThanOrEqual(from) : LessThan(to!);
}
