import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const AUDIT_EVENTS_TABLE = 'audit_events';

/**
 * One audited action: who (sub, role, their own organization), on what (resource, and the config
 * it belongs to), what (action, the names of the fields it changed: never a value), through which
 * request. Append-only: a trigger refuses UPDATE.
 */
@Entity({ name: AUDIT_EVENTS_TABLE })
@Index('idx_audit_events_org_seq', { synchronize: false })
@Index('idx_audit_events_org_resource', { synchronize: false })
@Index('idx_audit_events_org_integration', { synchronize: false })
@Index('idx_audit_events_org_action_seq', { synchronize: false })
@Index('idx_audit_events_org_occurred_at', { synchronize: false })
// The retention job's (every tenant's, oldest first); the trail's from/to use idx_audit_events_org_occurred_at.
@Index('idx_audit_events_occurred_at', ['occurred_at'])
@Check('chk_audit_events_details_object', `jsonb_typeof(details) = 'object'`)
export class AuditEventEntity {
  // Insertion order, for stable newest-first keyset pages.
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS', insert: false, update: false }) seq: string;
  @PrimaryGeneratedColumn('uuid') id: string;
  /** The organization whose data it concerns (for a refusal: the one the request named). */
  @Column('uuid', { nullable: true }) organization_id: string | null;
  @Column('timestamptz', { default: () => 'now()' }) occurred_at: Date;
  @Column('uuid', { nullable: true }) actor_sub: string | null;
  @Column('text', { nullable: true }) actor_role: string | null;
  @Column('uuid', { nullable: true }) actor_organization_id: string | null;
  @Column('text') resource_type: string;
  @Column('uuid', { nullable: true }) resource_id: string | null;
  @Column('uuid', { nullable: true }) integration_id: string | null;
  @Column('text') action: string;
  @Column('text', { array: true, default: () => "'{}'" }) changed_fields: string[];
  @Column('text', { nullable: true }) request_id: string | null;
  @Column('jsonb', { default: {} }) details: Record<string, unknown>;
}
