import { Check, Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { IntegrationConfigEntity } from '../integration-config/integration-config.entity';

export const TRANSFORM_TYPE_VALUES = ['direct', 'format', 'lookup', 'computed', 'static'] as const;
export type TransformTypeValue = (typeof TRANSFORM_TYPE_VALUES)[number];

/** How one internal field maps to one external field (seed 002), versioned. */
@Entity({ name: 'field_mappings' })
@Index('idx_field_mapping_integration_id', ['integration_id'])
@Index('idx_field_mapping_integration_source_unique', ['integration_id', 'source_field'], { unique: true, where: 'superseded_at IS NULL' })
@Index('idx_field_mapping_is_active', ['integration_id', 'is_active'])
@Index('idx_field_mapping_sort_order', ['integration_id', 'sort_order'])
@Index('idx_field_mapping_lineage', ['lineage_id', 'version'])
@Unique('uq_field_mappings_previous_version', ['previous_version_id'])
@Unique('uq_field_mappings_org_id', ['organization_id', 'id'])
// (organization_id, <parent>) → parent (organization_id, id): a row cannot name another organization's parent
// (migration 1763800000015). Declared with @ForeignKey, not a relation: nothing here loads one.
@ForeignKey(() => IntegrationConfigEntity, ['organization_id', 'integration_id'], ['organization_id', 'id'], { name: 'fk_field_mappings_integration', onDelete: 'CASCADE' })
@ForeignKey(() => FieldMappingEntity, ['organization_id', 'previous_version_id'], ['organization_id', 'id'], { name: 'fk_field_mappings_previous_version', onDelete: 'CASCADE' })
@Check('chk_field_mappings_source_field_snake_case', `source_field ~ '^[a-z][a-z0-9]*(_[a-z0-9]+)*$'`)
@Check('chk_field_mappings_target_field_non_empty', `btrim(target_field) <> ''`)
@Check('chk_field_mappings_default_value_length', `char_length(default_value) >= 1`)
@Check('chk_field_mappings_source_field_path', `source_field_path ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'`)
@Check('chk_field_mappings_sort_order_non_negative', `sort_order >= 0`)
@Check('chk_field_mappings_version', `version >= 1`)
@Check('chk_field_mappings_superseded_inactive', `superseded_at IS NULL OR is_active = false`)
export class FieldMappingEntity {
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column('uuid') organization_id: string;
  @Column('uuid') integration_id: string;
  @Column('varchar', { length: 255 }) source_field: string;
  @Column('varchar', { length: 255 }) target_field: string;
  @Column({ type: 'enum', enum: TRANSFORM_TYPE_VALUES, enumName: 'field_mapping_transform_type' }) transform_type: TransformTypeValue;
  @Column('jsonb', { nullable: true }) transform_config: unknown;
  @Column('varchar', { length: 255, nullable: true }) default_value: string | null;
  @Column('boolean', { default: false }) is_required: boolean;
  @Column('varchar', { length: 255, nullable: true }) source_field_path: string | null;
  @Column('varchar', { length: 255 }) display_label: string;
  @Column('integer') sort_order: number;
  @Column('boolean', { default: true }) is_active: boolean;
  @Column('integer', { default: 1 }) version: number;
  /** The id of version 1 of this mapping: the chain's key. */
  @Column('uuid') lineage_id: string;
  @Column('uuid', { nullable: true }) previous_version_id: string | null;
  /** Set when a newer version replaced this one; such versions are kept read-only. */
  @Column('timestamptz', { nullable: true }) superseded_at: Date | null;
  @Column('boolean', { default: false }) used_in_export: boolean;
  @Column('timestamptz', { default: () => 'now()' }) created_at: Date;
  @Column('timestamptz', { default: () => 'now()' }) updated_at: Date;
}
