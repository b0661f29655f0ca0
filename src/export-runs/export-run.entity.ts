import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import type { ExportResult } from '../export';
import { IntegrationConfigEntity } from '../integration-config/integration-config.entity';

export type { ExportResult, ExportRow, ExportSkip } from '../export';

export interface MappingUsed {
  mapping_id: string;
  version: number;
}

/** One recorded export: its result, and the mapping versions that produced it. */
@Entity({ name: 'export_runs' })
@Unique('export_runs_seq_key', ['seq'])
@Index('idx_export_runs_integration_seq', { synchronize: false })
@Check('chk_export_runs_status', `status IN ('completed')`)
@Check('chk_export_runs_row_count', `row_count >= 0`)
@Check('chk_export_runs_skipped_count', `skipped_count >= 0`)
@Check('chk_export_runs_mappings_used', `jsonb_typeof(mappings_used) = 'array'`)
export class ExportRunEntity {
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS', insert: false, update: false }) seq: string;
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column('uuid') organization_id: string;
  @Column('uuid') integration_id: string;
  @ManyToOne(() => IntegrationConfigEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'integration_id', foreignKeyConstraintName: 'fk_export_runs_integration' })
  integration?: IntegrationConfigEntity;
  @Column('text') status: 'completed';
  @Column('timestamptz') started_at: Date;
  @Column('timestamptz') finished_at: Date;
  @Column('integer') row_count: number;
  @Column('integer') skipped_count: number;
  @Column('jsonb') mappings_used: MappingUsed[];
  @Column('jsonb') result: ExportResult;
  @Column('uuid') created_by: string;
  @Column('timestamptz', { default: () => 'now()' }) created_at: Date;
}
