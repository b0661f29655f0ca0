import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * field_mappings (seed 002) with versions. A mapping is "current" until a newer version
 * supersedes it (superseded_at set); the seed's unique index covers current mappings only, so
 * superseded versions are kept for audit without blocking their successor.
 */
export class FieldMappings1763800000001 implements MigrationInterface {
  name = 'FieldMappings1763800000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE field_mapping_transform_type AS ENUM ('direct', 'format', 'lookup', 'computed', 'static')`);
    await q.query(`
      CREATE TABLE field_mappings (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        integration_id uuid NOT NULL CONSTRAINT fk_field_mappings_integration REFERENCES integration_configs (id) ON DELETE CASCADE,
        source_field varchar(255) NOT NULL CONSTRAINT chk_field_mappings_source_field_snake_case CHECK (source_field ~ '^[a-z][a-z0-9]*(_[a-z0-9]+)*$'),
        target_field varchar(255) NOT NULL CONSTRAINT chk_field_mappings_target_field_non_empty CHECK (btrim(target_field) <> ''),
        transform_type field_mapping_transform_type NOT NULL,
        transform_config jsonb,
        default_value varchar(255) CONSTRAINT chk_field_mappings_default_value_length CHECK (char_length(default_value) >= 1),
        is_required boolean NOT NULL DEFAULT false,
        source_field_path varchar(255) CONSTRAINT chk_field_mappings_source_field_path CHECK (source_field_path ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
        display_label varchar(255) NOT NULL,
        sort_order integer NOT NULL CONSTRAINT chk_field_mappings_sort_order_non_negative CHECK (sort_order >= 0),
        is_active boolean NOT NULL DEFAULT true,
        version integer NOT NULL DEFAULT 1 CONSTRAINT chk_field_mappings_version CHECK (version >= 1),
        lineage_id uuid NOT NULL,
        previous_version_id uuid CONSTRAINT fk_field_mappings_previous_version REFERENCES field_mappings (id) ON DELETE CASCADE,
        superseded_at timestamptz,
        used_in_export boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_field_mappings_previous_version UNIQUE (previous_version_id),
        CONSTRAINT chk_field_mappings_superseded_inactive CHECK (superseded_at IS NULL OR is_active = false)
      )`);
    await q.query(`CREATE INDEX idx_field_mapping_integration_id ON field_mappings (integration_id)`);
    await q.query(`CREATE UNIQUE INDEX idx_field_mapping_integration_source_unique ON field_mappings (integration_id, source_field) WHERE superseded_at IS NULL`);
    await q.query(`CREATE INDEX idx_field_mapping_is_active ON field_mappings (integration_id, is_active)`);
    await q.query(`CREATE INDEX idx_field_mapping_sort_order ON field_mappings (integration_id, sort_order)`);
    await q.query(`CREATE INDEX idx_field_mapping_lineage ON field_mappings (lineage_id, version)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE field_mappings`);
    await q.query(`DROP TYPE field_mapping_transform_type`);
  }
}
