import { Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { mapPage } from '../common/pagination';
import { RuleViolation } from '../common/rule-violation';
import { PageCursors } from '../crypto/page-cursors';
import type { Transaction } from '../database/transaction';
import type { AuditAction, AuditResourceType } from './audit-actions';
import type { AuditEventEntity } from './audit-event.entity';
import { AuditEventRepository } from './audit-event.repository';
import type { AuditEventListResponse, AuditEventQueryDto, AuditEventResponse } from './dto/audit-event.dto';

export interface AuditEntry {
  /** The organization whose data it concerns. */
  orgId: string | null;
  /** Who; null for an unauthenticated request. */
  actor: Principal | null;
  action: AuditAction;
  resource: { type: AuditResourceType; id: string | null; integrationId?: string | null };
  /** Names only, never values. */
  changedFields?: string[];
  details?: Record<string, unknown>;
  /** The request's id when there is no principal to carry it. */
  requestId?: string;
}

/** The audit trail: one append-only row per audited action, written in the transaction of the change it records. */
@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');

  constructor(
    private readonly events: AuditEventRepository,
    private readonly cursors: PageCursors,
  ) {}

  /** Inside `tx` when the action changes data: the event commits or rolls back with it. */
  async record(entry: AuditEntry, tx?: Transaction): Promise<void> {
    await (tx ? this.events.in(tx) : this.events).insert({
      organization_id: entry.orgId,
      actor_sub: entry.actor?.sub ?? null,
      actor_role: entry.actor?.role ?? null,
      actor_organization_id: entry.actor?.orgId ?? null,
      resource_type: entry.resource.type,
      resource_id: entry.resource.id,
      integration_id: entry.resource.integrationId ?? null,
      action: entry.action,
      changed_fields: entry.changedFields ?? [],
      request_id: entry.actor?.request?.id ?? entry.requestId ?? null,
      details: entry.details ?? {},
    });
  }

  /**
   * An outbound request the egress rule refused (issue 19): whose config or alert endpoint, what
   * for, and the host and address judged (never a path or query: they may carry secrets). Written
   * on its own: the refusal stands whatever happens to the work that asked for it, and a failed
   * write is logged, never put in the place of the refusal's own answer.
   */
  async recordEgressRefusal(
    orgId: string,
    resource: AuditEntry['resource'],
    refusal: { host: string; reason: string },
    purpose: 'delivery' | 'connection_test' | 'alert',
    actor: Principal | null,
  ): Promise<void> {
    await this.record({ orgId, actor, action: 'egress.refused', resource, details: { purpose, host: refusal.host, refused: refusal.reason } }).catch((error: unknown) =>
      this.logger.error({ event: 'audit_event_not_written', org_id: orgId, action: 'egress.refused', resource_id: resource.id, err: { name: (error as Error)?.name } }),
    );
  }

  async list(orgId: string, query: AuditEventQueryDto): Promise<AuditEventListResponse> {
    const from = query.from ? new Date(query.from) : undefined;
    const to = query.to ? new Date(query.to) : undefined;
    if (from && to && from >= to) {
      throw RuleViolation.validation([{ field: 'to', rule: 'time_range_must_be_ordered', message: 'to must be later than from' }]);
    }
    const filter = { resourceId: query.resource_id?.toLowerCase(), action: query.action, from, to };
    // The cursor is bound to the filter as applied: `from=2026-12-01T01:00:00+01:00` is the same filter as `…T00:00:00Z`.
    const page = await this.cursors.page(orgId, 'audit_events', filter, query, (keyset) => this.events.listPage(orgId, filter, keyset));
    return mapPage(page, toAuditEventResponse);
  }
}

function toAuditEventResponse(event: AuditEventEntity): AuditEventResponse {
  return {
    id: event.id,
    occurred_at: event.occurred_at.toISOString(),
    actor: event.actor_sub && event.actor_role ? { sub: event.actor_sub, role: event.actor_role, organization_id: event.actor_organization_id } : null,
    resource_type: event.resource_type,
    resource_id: event.resource_id,
    integration_id: event.integration_id,
    action: event.action,
    changed_fields: event.changed_fields,
    request_id: event.request_id,
    details: event.details,
  };
}
