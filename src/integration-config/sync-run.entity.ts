import { Check, Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import { IntegrationConfigEntity } from './integration-config.entity';
import { SYNC_STATUSES, type SyncStatus } from './integration-config.entity';

/** One recorded sync attempt of a config. */
@Entity({ name: 'sync_runs' })
// (organization_id, <parent>) → parent (organization_id, id): a row cannot name another organization's parent
// (migration 1763800000015). Declared with @ForeignKey, not a relation: nothing here loads one.
@ForeignKey(() => IntegrationConfigEntity, ['organization_id', 'integration_id'], ['organization_id', 'id'], { name: 'fk_sync_runs_integration', onDelete: 'CASCADE' })
@Index('idx_sync_runs_integration_seq', { synchronize: false })
@Index('idx_sync_runs_created_at', { synchronize: false })
@Index('idx_sync_runs_integration', { synchronize: false })
@Check('chk_sync_runs_records_pushed', `records_pushed >= 0`)
@Check('chk_sync_runs_records_pulled', `records_pulled >= 0`)
@Check('chk_sync_runs_error_unless_success', `status = 'success' OR error IS NOT NULL`)
@Check('chk_sync_runs_finished_after_started', `finished_at >= started_at`)
export class SyncRunEntity {
  // Insertion order, for stable newest-first keyset pages.
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS', insert: false, update: false }) seq: string;
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column('uuid') organization_id: string;
  @Column('uuid') integration_id: string;
  @Column({ type: 'enum', enum: SYNC_STATUSES, enumName: 'integration_sync_status' }) status: SyncStatus;
  @Column('timestamptz') started_at: Date;
  @Column('timestamptz') finished_at: Date;
  @Column('text', { nullable: true }) error: string | null;
  @Column('integer', { default: 0 }) records_pushed: number;
  @Column('integer', { default: 0 }) records_pulled: number;
  @Column('uuid') recorded_by: string;
  @Column('timestamptz', { default: () => 'now()' }) created_at: Date;
}
