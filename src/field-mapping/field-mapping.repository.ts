import { Injectable } from '@nestjs/common';
import { DataSource, In, IsNull } from 'typeorm';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { FieldMappingEntity } from './field-mapping.entity';

/** The `{source: target}` views of configs' active mappings, on every config read (the raw benchmark baseline runs it too). */
export const MAPPING_VIEWS_SQL = `SELECT integration_id, source_field, target_field FROM field_mappings
  WHERE organization_id = $1 AND integration_id = ANY($2) AND superseded_at IS NULL AND is_active = true
  ORDER BY sort_order ASC, source_field ASC`;

const OUTPUT_ORDER = { sort_order: 'ASC', source_field: 'ASC' } as const;

/** field_mappings: every statement on the table, the organization first in each. */
@Injectable()
export class FieldMappingRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  findByOrgAndId(orgId: string, integrationId: string, id: string): Promise<FieldMappingEntity | null> {
    return this.repository(FieldMappingEntity).findOne({ where: { organization_id: orgId, integration_id: integrationId, id } });
  }

  findByOrgAndIds(orgId: string, ids: string[]): Promise<FieldMappingEntity[]> {
    return this.repository(FieldMappingEntity).find({ where: { organization_id: orgId, id: In(ids) } });
  }

  /** The current (not superseded) mappings of an integration, in output order; `isActive` filters. */
  listCurrent(orgId: string, integrationId: string, options: { isActive?: boolean } = {}): Promise<FieldMappingEntity[]> {
    return this.repository(FieldMappingEntity).find({
      where: { organization_id: orgId, integration_id: integrationId, superseded_at: IsNull(), ...(options.isActive === undefined ? {} : { is_active: options.isActive }) },
      order: OUTPUT_ORDER,
    });
  }

  /** The active current mappings of an integration, in output order: what previews and exports use. */
  listActive(orgId: string, integrationId: string): Promise<FieldMappingEntity[]> {
    return this.listCurrent(orgId, integrationId, { isActive: true });
  }

  /** Every version of a mapping, oldest first. */
  listLineage(orgId: string, integrationId: string, lineageId: string): Promise<FieldMappingEntity[]> {
    return this.repository(FieldMappingEntity).find({ where: { organization_id: orgId, integration_id: integrationId, lineage_id: lineageId }, order: { version: 'ASC' } });
  }

  /** Current mappings of these source fields (ids only): who already maps them. */
  listCurrentBySources(orgId: string, integrationId: string, sources: string[]): Promise<Pick<FieldMappingEntity, 'id' | 'source_field'>[]> {
    return this.repository(FieldMappingEntity).find({
      where: { organization_id: orgId, integration_id: integrationId, superseded_at: IsNull(), source_field: In(sources) },
      select: { id: true, source_field: true },
    });
  }

  /** The `{source_field: target_field}` view of each integration's active mappings. */
  async activeViews(orgId: string, integrationIds: string[]): Promise<Map<string, Record<string, string>>> {
    const views = new Map<string, Record<string, string>>(integrationIds.map((id) => [id, {}]));
    if (integrationIds.length === 0) return views;
    const active = await this.rows<{ integration_id: string; source_field: string; target_field: string }>(MAPPING_VIEWS_SQL, [orgId, integrationIds]);
    for (const m of active) views.get(m.integration_id)![m.source_field] = m.target_field;
    return views;
  }

  /** The sort_order after the integration's current mappings. */
  async nextSortOrder(orgId: string, integrationId: string): Promise<number> {
    const max = await this.repository(FieldMappingEntity)
      .createQueryBuilder('m')
      .select('COALESCE(MAX(m.sort_order) + 1, 0)', 'next')
      .where('m.organization_id = :orgId AND m.integration_id = :integrationId AND m.superseded_at IS NULL', { orgId, integrationId })
      .getRawOne<{ next: number }>();
    return Number(max?.next ?? 0);
  }

  insert(rows: FieldMappingEntity | FieldMappingEntity[]): Promise<void> {
    return this.insertRows(FieldMappingEntity, rows);
  }

  async updateByOrgAndId(orgId: string, id: string, changes: Partial<FieldMappingEntity>): Promise<void> {
    await this.updateRows(FieldMappingEntity, { organization_id: orgId, id }, { ...changes, updated_at: () => 'now()' });
  }

  /** The old version of a mapping: inactive and read-only from now on. */
  async supersede(orgId: string, id: string): Promise<void> {
    await this.updateRows(FieldMappingEntity, { organization_id: orgId, id }, { is_active: false, superseded_at: () => 'now()', updated_at: () => 'now()' });
  }

  async deactivate(orgId: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await this.updateRows(FieldMappingEntity, { organization_id: orgId, id: In(ids) }, { is_active: false, updated_at: () => 'now()' });
  }

  /** The mappings an export used: frozen from now on (immutable_after_export_use). */
  async markUsedInExport(orgId: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await this.updateRows(FieldMappingEntity, { organization_id: orgId, id: In(ids) }, { used_in_export: true });
  }

  async deleteByOrgAndId(orgId: string, integrationId: string, id: string): Promise<void> {
    await this.repository(FieldMappingEntity).delete({ organization_id: orgId, integration_id: integrationId, id });
  }
}
