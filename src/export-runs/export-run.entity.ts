import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from 'typeorm';
import type { ExportResult } from '../export';
import { IntegrationConfigEntity } from '../integration-config/integration-config.entity';

export type { ExportResult, ExportRow, ExportSkip } from '../export';

export const EXPORT_RUN_STATUSES = ['completed', 'queued', 'delivering', 'delivered', 'partially_delivered', 'failed', 'cancelled'] as const;
export type ExportRunStatus = (typeof EXPORT_RUN_STATUSES)[number];
export type ExportRowStatus = 'pending' | 'delivered' | 'failed' | 'skipped';

export interface MappingUsed {
  mapping_id: string;
  version: number;
}

/** One recorded export: its result, and the mapping versions that produced it. */
@Entity({ name: 'export_runs' })
@Unique('uq_export_runs_org_id', ['organization_id', 'id'])
// (organization_id, <parent>) → parent (organization_id, id): a row cannot name another organization's parent
// (migration 1763800000015). Declared with @ForeignKey, not a relation: nothing here loads one.
@ForeignKey(() => IntegrationConfigEntity, ['organization_id', 'integration_id'], ['organization_id', 'id'], { name: 'fk_export_runs_integration', onDelete: 'CASCADE' })
@Index('idx_export_runs_integration_seq', { synchronize: false })
@Check('chk_export_runs_status', `status IN ('completed', 'queued', 'delivering', 'delivered', 'partially_delivered', 'failed', 'cancelled')`)
@Index('idx_export_runs_integration_status', ['integration_id', 'status'])
// The retention job's (migration 1763800000007).
@Index('idx_export_runs_created_at', { synchronize: false })
@Index('idx_export_runs_mappings_used', { synchronize: false })
// The delivery sweep's: only the runs waiting for delivery (migration 1763800000010).
@Index('idx_export_runs_deliverable', { synchronize: false })
@Check('chk_export_runs_row_count', `row_count >= 0`)
@Check('chk_export_runs_skipped_count', `skipped_count >= 0`)
@Check('chk_export_runs_mappings_used', `jsonb_typeof(mappings_used) = 'array'`)
export class ExportRunEntity {
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS', insert: false, update: false }) seq: string;
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column('uuid') organization_id: string;
  @Column('uuid') integration_id: string;
  @Column('text') status: ExportRunStatus;
  @Column('timestamptz') started_at: Date;
  @Column('timestamptz') finished_at: Date;
  @Column('integer') row_count: number;
  @Column('integer') skipped_count: number;
  @Column('jsonb') mappings_used: MappingUsed[];
  // json, not jsonb: the text as written keeps each output's keys in the mappings' sort_order.
  @Column('json') result: ExportResult;
  @Column('uuid') created_by: string;
  @Column('timestamptz', { default: () => 'now()' }) created_at: Date;
  @Column('integer', { default: 0 }) delivery_attempts: number;
  @Column('integer', { default: 0 }) delivered_count: number;
  @Column('integer', { default: 0 }) failed_count: number;
  @Column('timestamptz', { nullable: true }) next_attempt_at: Date | null;
  /** The external system's Retry-After for that retry: POST …/sync skips the backoff, never this. */
  @Column('timestamptz', { nullable: true }) not_before: Date | null;
  /** When its delivery ended (delivered, partially_delivered, failed): retention ages the run from then. */
  @Column('timestamptz', { nullable: true }) settled_at: Date | null;
  @Column('text', { nullable: true }) last_error: string | null;
}

/** One row of a run and where its delivery stands. */
@Entity({ name: 'export_run_rows' })
@ForeignKey(() => ExportRunEntity, ['organization_id', 'export_run_id'], ['organization_id', 'id'], { name: 'fk_export_run_rows_run', onDelete: 'CASCADE' })
@Check('chk_export_run_rows_status', `status IN ('pending', 'delivered', 'failed', 'skipped')`)
export class ExportRunRowEntity {
  @PrimaryColumn('uuid', { primaryKeyConstraintName: 'pk_export_run_rows' }) export_run_id: string;
  @PrimaryColumn('integer', { primaryKeyConstraintName: 'pk_export_run_rows' }) index: number;
  @Column('uuid') organization_id: string;
  @Column('varchar', { length: 255, nullable: true }) claim_id: string | null;
  // json: keeps the keys' order, as export_runs.result does.
  @Column('json', { nullable: true }) output: Record<string, unknown> | null;
  @Column('text') status: ExportRowStatus;
  @Column('varchar', { length: 255, nullable: true }) external_id: string | null;
  @Column('text', { nullable: true }) error: string | null;
}
