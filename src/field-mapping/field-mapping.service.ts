import { randomUUID } from 'node:crypto';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource, In, IsNull, type EntityManager } from 'typeorm';
import { registerConstraintRule } from '../common/constraint-rules';
import type { FieldError } from '../common/problem';
import { RuleViolation } from '../common/rule-violation';
import { compileMappings, coverage, type CompileContext, type CompiledMapping, type MappingResult, type MappingSpec } from '../export';
import type { ConfigFieldMappingsPort } from '../integration-config/field-mappings.port';
import type { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import { IntegrationConfigService } from '../integration-config/integration-config.service';
import type { IntegrationTypeDefinition } from '../integration-types/integration-type';
import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';
import type { CreateFieldMappingDto, UpdateFieldMappingDto } from './dto/field-mapping-request.dto';
import type { CoverageResponse, FieldMappingResponse } from './dto/field-mapping-response.dto';
import { FieldMappingEntity } from './field-mapping.entity';
import { toFieldMappingResponse } from './field-mapping.mapper';
import {
  businessRuleErrors,
  changedExportFields,
  IMMUTABLE_AFTER_EXPORT_USE,
  lookupMapErrors,
  MAPPING_VERSION_SUPERSEDED,
  toMappingSpec,
  UNIQUE_SOURCE_FIELD,
} from './field-mapping.rules';
import { InjectMeanderDataSource } from '../database/database.module';
import { queryRows } from '../database/pool-query';

export const SOURCE_UNIQUE_INDEX = 'idx_field_mapping_integration_source_unique';
registerConstraintRule(SOURCE_UNIQUE_INDEX, {
  rule: UNIQUE_SOURCE_FIELD,
  status: 409,
  field: 'source_field',
  message: 'This integration already has a current mapping for this source field.',
});

type MappingWrite = Partial<CreateFieldMappingDto & UpdateFieldMappingDto>;

/** The `{source: target}` views of configs' active mappings (exported for the raw benchmark baseline). */
export const MAPPING_VIEWS_SQL = `SELECT integration_id, source_field, target_field FROM field_mappings
  WHERE organization_id = $1 AND integration_id = ANY($2) AND superseded_at IS NULL AND is_active = true
  ORDER BY sort_order ASC, source_field ASC`;

/**
 * Field mappings of an integration: CRUD, versions, order, coverage and preview. Every write
 * locks the integration's config row first, so concurrent writes to one integration queue up.
 */
@Injectable()
export class FieldMappingService implements OnModuleInit, ConfigFieldMappingsPort {
  constructor(
    @InjectMeanderDataSource() private readonly dataSource: DataSource,
    private readonly configs: IntegrationConfigService,
    private readonly registry: IntegrationTypeRegistry,
  ) {}

  onModuleInit(): void {
    this.configs.attachFieldMappings(this);
  }

  // --- reads ---

  async list(orgId: string, integrationId: string, isActive?: boolean): Promise<FieldMappingResponse[]> {
    await this.configs.findOrFail(this.dataSource.manager, orgId, integrationId);
    const mappings = await this.repo(this.dataSource.manager).find({
      where: { organization_id: orgId, integration_id: integrationId, superseded_at: IsNull(), ...(isActive === undefined ? {} : { is_active: isActive }) },
      order: { sort_order: 'ASC', source_field: 'ASC' },
    });
    return mappings.map(toFieldMappingResponse);
  }

  async get(orgId: string, integrationId: string, id: string): Promise<FieldMappingResponse> {
    return toFieldMappingResponse(await this.findOrFail(this.dataSource.manager, orgId, integrationId, id));
  }

  async versions(orgId: string, integrationId: string, id: string): Promise<FieldMappingResponse[]> {
    const mapping = await this.findOrFail(this.dataSource.manager, orgId, integrationId, id);
    const chain = await this.repo(this.dataSource.manager).find({
      where: { organization_id: orgId, integration_id: integrationId, lineage_id: mapping.lineage_id },
      order: { version: 'ASC' },
    });
    return chain.map(toFieldMappingResponse);
  }

  async coverage(orgId: string, integrationId: string): Promise<CoverageResponse> {
    const config = await this.configs.findOrFail(this.dataSource.manager, orgId, integrationId);
    return this.coverageOf(this.dataSource.manager, config);
  }

  async coverageOf(manager: EntityManager, config: IntegrationConfigEntity): Promise<CoverageResponse> {
    const active = await this.activeMappings(manager, config.organization_id, config.id);
    return coverage(active.map(toMappingSpec), this.registry.get(config.integration_type).required_target_fields);
  }

  async preview(orgId: string, integrationId: string, record: Record<string, unknown>): Promise<MappingResult> {
    const config = await this.configs.findOrFail(this.dataSource.manager, orgId, integrationId);
    const compiled = await this.compile(this.dataSource.manager, config);
    return compiled.mapping(record);
  }

  /** The active current mappings of an integration, in output order. */
  async activeMappings(manager: EntityManager, orgId: string, integrationId: string): Promise<FieldMappingEntity[]> {
    return this.repo(manager).find({
      where: { organization_id: orgId, integration_id: integrationId, superseded_at: IsNull(), is_active: true },
      order: { sort_order: 'ASC', source_field: 'ASC' },
    });
  }

  /**
   * What the export core needs to map records with the integration's active mappings, and their
   * coverage: one read of the mappings for both.
   */
  async mappingInputs(
    manager: EntityManager,
    config: IntegrationConfigEntity,
  ): Promise<{ specs: MappingSpec[]; context: CompileContext; mappings: FieldMappingEntity[]; coverage: CoverageResponse }> {
    const mappings = await this.activeMappings(manager, config.organization_id, config.id);
    const type = this.registry.get(config.integration_type);
    const context: CompileContext = { sourceFields: type.source_fields, accountingCodeMappings: config.accounting_code_mappings ?? null };
    const specs = mappings.map(toMappingSpec);
    return { specs, context, mappings, coverage: coverage(specs, type.required_target_fields) };
  }

  /** The one resolver: the integration's active mappings compiled once (preview and export). */
  async compile(manager: EntityManager, config: IntegrationConfigEntity): Promise<{ mapping: CompiledMapping; mappings: FieldMappingEntity[] }> {
    const { specs, context, mappings } = await this.mappingInputs(manager, config);
    return { mapping: compileMappings(specs, context), mappings };
  }

  // --- writes ---

  async create(orgId: string, integrationId: string, dto: CreateFieldMappingDto): Promise<FieldMappingResponse> {
    const [created] = await this.createMany(orgId, integrationId, [dto], false);
    return created;
  }

  async bulkCreate(orgId: string, integrationId: string, items: CreateFieldMappingDto[]): Promise<FieldMappingResponse[]> {
    return this.createMany(orgId, integrationId, items, true);
  }

  async update(orgId: string, integrationId: string, id: string, dto: UpdateFieldMappingDto): Promise<FieldMappingResponse> {
    return this.dataSource.transaction(async (manager) => {
      const config = await this.configs.findOrFail(manager, orgId, integrationId, true);
      const current = await this.findOrFail(manager, orgId, integrationId, id);
      this.assertCurrent(current);
      const next = this.merge(current, dto);
      const frozen = current.used_in_export ? changedExportFields(current, next) : [];
      if (frozen.length > 0) throw this.immutable(frozen);
      await this.assertValid(manager, config, [next], '');
      await this.repo(manager).update({ organization_id: orgId, id }, { ...this.columns(next), updated_at: () => 'now()' });
      return toFieldMappingResponse(await this.findOrFail(manager, orgId, integrationId, id));
    });
  }

  async remove(orgId: string, integrationId: string, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await this.configs.findOrFail(manager, orgId, integrationId, true);
      const current = await this.findOrFail(manager, orgId, integrationId, id);
      this.assertCurrent(current);
      if (current.used_in_export) {
        throw new RuleViolation(IMMUTABLE_AFTER_EXPORT_USE, 409, 'This mapping was used by a completed export and is kept for audit: deactivate it (is_active: false) instead.');
      }
      await this.repo(manager).delete({ organization_id: orgId, integration_id: integrationId, id });
    });
  }

  /** Version n+1 with the changes; the old version becomes inactive and read-only, in one transaction. */
  async createVersion(orgId: string, integrationId: string, id: string, dto: UpdateFieldMappingDto): Promise<FieldMappingResponse> {
    return this.dataSource.transaction(async (manager) => {
      const config = await this.configs.findOrFail(manager, orgId, integrationId, true);
      const current = await this.findOrFail(manager, orgId, integrationId, id);
      this.assertCurrent(current);
      const next = this.merge(current, { is_active: true, ...dto });
      Object.assign(next, { id: randomUUID(), version: current.version + 1, previous_version_id: current.id, used_in_export: false, superseded_at: null });
      await this.assertValid(manager, config, [next], '', current.id);
      // Supersede first: the unique index covers current versions only.
      await this.repo(manager).update({ organization_id: orgId, id: current.id }, { is_active: false, superseded_at: () => 'now()', updated_at: () => 'now()' });
      await this.repo(manager).insert(next as never);
      return toFieldMappingResponse(await this.findOrFail(manager, orgId, integrationId, next.id));
    });
  }

  async reorder(orgId: string, integrationId: string, ids: string[]): Promise<FieldMappingResponse[]> {
    const wanted = ids.map((id) => id.toLowerCase());
    const duplicates = wanted.map((id, i) => (wanted.indexOf(id) !== i ? i : -1)).filter((i) => i >= 0);
    if (duplicates.length > 0) {
      throw RuleViolation.validation(duplicates.map((i) => ({ field: `ids[${i}]`, rule: 'ids_must_be_unique', message: 'each id may appear once' })));
    }
    return this.dataSource.transaction(async (manager) => {
      await this.configs.findOrFail(manager, orgId, integrationId, true);
      const currentMappings = await this.repo(manager).find({
        where: { organization_id: orgId, integration_id: integrationId, superseded_at: IsNull() },
        order: { sort_order: 'ASC', source_field: 'ASC' },
      });
      const known = new Set(currentMappings.map((m) => m.id));
      const foreign = wanted.map((id, i) => (known.has(id) ? -1 : i)).filter((i) => i >= 0);
      if (foreign.length > 0) {
        throw new RuleViolation(
          'order_ids_must_belong_to_integration',
          422,
          'Every id must be a current field mapping of this integration.',
          foreign.map((i) => ({ field: `ids[${i}]`, rule: 'order_ids_must_belong_to_integration', message: `${ids[i]} is not a current mapping of this integration` })),
        );
      }
      // Listed ids take 0..n-1; the others keep their relative order after them.
      const order = [...wanted, ...currentMappings.map((m) => m.id).filter((id) => !wanted.includes(id))];
      for (const [position, id] of order.entries()) {
        await this.repo(manager).update({ organization_id: orgId, id }, { sort_order: position, updated_at: () => 'now()' });
      }
      const result = await this.repo(manager).find({
        where: { organization_id: orgId, integration_id: integrationId, superseded_at: IsNull() },
        order: { sort_order: 'ASC', source_field: 'ASC' },
      });
      return result.map(toFieldMappingResponse);
    });
  }

  // --- the config's view and shorthand (ConfigFieldMappingsPort) ---

  async views(manager: EntityManager, orgId: string, integrationIds: string[]): Promise<Map<string, Record<string, string>>> {
    const views = new Map<string, Record<string, string>>(integrationIds.map((id) => [id, {}]));
    if (integrationIds.length === 0) return views;
    // Plain SQL: on every config read (see IntegrationConfigService.get).
    const active = await queryRows<{ integration_id: string; source_field: string; target_field: string }>(manager, MAPPING_VIEWS_SQL, [orgId, integrationIds]);
    for (const m of active) views.get(m.integration_id)![m.source_field] = m.target_field;
    return views;
  }

  async applyShorthand(manager: EntityManager, orgId: string, config: IntegrationConfigEntity, shorthand: Record<string, string>, _actor: string): Promise<void> {
    const type = this.registry.get(config.integration_type);
    const unknown = Object.keys(shorthand).filter((source) => !type.source_fields.some((f) => f.name === source));
    if (unknown.length > 0) {
      throw new RuleViolation(
        'source_field_must_exist_in_internal_schema',
        422,
        `Not source fields of ${type.integration_type}: ${unknown.join(', ')}.`,
        unknown.map((source) => ({
          field: `field_mappings.${source}`,
          rule: 'source_field_must_exist_in_internal_schema',
          message: `${source} is not a source field of ${type.integration_type}`,
        })),
      );
    }
    const current = await this.repo(manager).find({ where: { organization_id: orgId, integration_id: config.id, superseded_at: IsNull() } });
    const bySource = new Map(current.map((m) => [m.source_field, m]));
    let nextSortOrder = current.reduce((max, m) => Math.max(max, m.sort_order + 1), 0);
    const frozen: FieldError[] = [];
    for (const [source, target] of Object.entries(shorthand)) {
      const existing = bySource.get(source);
      if (!existing) {
        await this.repo(manager).insert(this.newMapping(orgId, config.id, { source_field: source, target_field: target.trim() }, nextSortOrder++) as never);
        continue;
      }
      // The same rules as a field-mapping update: a changed target on a used mapping is refused.
      const next = this.merge(existing, { target_field: target.trim(), is_active: true });
      if (existing.used_in_export && changedExportFields(existing, next).length > 0) {
        frozen.push({
          field: `field_mappings.${source}`,
          rule: IMMUTABLE_AFTER_EXPORT_USE,
          message: `the mapping of ${source} was used by an export: create a new version to change its target`,
        });
        continue;
      }
      if (next.target_field !== existing.target_field || !existing.is_active) {
        await this.repo(manager).update({ organization_id: orgId, id: existing.id }, { target_field: next.target_field, is_active: true, updated_at: () => 'now()' });
      }
    }
    if (frozen.length > 0) throw new RuleViolation(IMMUTABLE_AFTER_EXPORT_USE, 409, 'Some mappings were used by a completed export.', frozen);
    const dropped = current.filter((m) => m.is_active && !(m.source_field in shorthand)).map((m) => m.id);
    if (dropped.length > 0) await this.repo(manager).update({ organization_id: orgId, id: In(dropped) }, { is_active: false, updated_at: () => 'now()' });
  }

  // --- internals ---

  private repo(manager: EntityManager) {
    return manager.getRepository(FieldMappingEntity);
  }

  private async findOrFail(manager: EntityManager, orgId: string, integrationId: string, id: string): Promise<FieldMappingEntity> {
    const mapping = await this.repo(manager).findOne({ where: { organization_id: orgId, integration_id: integrationId, id } });
    if (!mapping) throw RuleViolation.notFound('Field mapping');
    return mapping;
  }

  private async createMany(orgId: string, integrationId: string, items: CreateFieldMappingDto[], bulk: boolean): Promise<FieldMappingResponse[]> {
    return this.dataSource.transaction(async (manager) => {
      const config = await this.configs.findOrFail(manager, orgId, integrationId, true);
      const max = await this.repo(manager)
        .createQueryBuilder('m')
        .select('COALESCE(MAX(m.sort_order) + 1, 0)', 'next')
        .where('m.organization_id = :orgId AND m.integration_id = :integrationId AND m.superseded_at IS NULL', { orgId, integrationId })
        .getRawOne<{ next: number }>();
      let nextSortOrder = Number(max?.next ?? 0);
      const rows = items.map((item) => this.newMapping(orgId, integrationId, item, item.sort_order ?? nextSortOrder++));
      await this.assertValid(manager, config, rows, bulk ? 'items' : null);
      await this.repo(manager).insert(rows as never);
      const stored = await this.repo(manager).find({ where: { organization_id: orgId, id: In(rows.map((r) => r.id)) } });
      const byId = new Map(stored.map((m) => [m.id, m]));
      return rows.map((r) => toFieldMappingResponse(byId.get(r.id)!));
    });
  }

  private newMapping(orgId: string, integrationId: string, dto: MappingWrite & { source_field: string; target_field: string }, sortOrder: number): FieldMappingEntity {
    const id = randomUUID();
    return Object.assign(new FieldMappingEntity(), {
      id,
      organization_id: orgId,
      integration_id: integrationId,
      source_field: dto.source_field,
      target_field: dto.target_field.trim(),
      transform_type: dto.transform_type ?? 'direct',
      transform_config: dto.transform_config ?? null,
      default_value: dto.default_value ?? null,
      is_required: dto.is_required ?? false,
      source_field_path: dto.source_field_path ?? null,
      display_label: dto.display_label?.trim() || dto.source_field,
      sort_order: sortOrder,
      is_active: dto.is_active ?? true,
      version: 1,
      lineage_id: id,
      previous_version_id: null,
      superseded_at: null,
      used_in_export: false,
    });
  }

  private merge(current: FieldMappingEntity, dto: MappingWrite): FieldMappingEntity {
    const next = Object.assign(new FieldMappingEntity(), current);
    if (dto.source_field !== undefined) next.source_field = dto.source_field;
    if (dto.target_field !== undefined) next.target_field = dto.target_field.trim();
    if (dto.transform_type !== undefined) next.transform_type = dto.transform_type;
    if (dto.transform_config !== undefined) next.transform_config = dto.transform_config;
    if (dto.default_value !== undefined) next.default_value = dto.default_value;
    if (dto.is_required !== undefined) next.is_required = dto.is_required;
    if (dto.source_field_path !== undefined) next.source_field_path = dto.source_field_path;
    if (dto.display_label !== undefined) next.display_label = dto.display_label?.trim() || next.source_field;
    if (dto.sort_order !== undefined) next.sort_order = dto.sort_order;
    if (dto.is_active !== undefined) next.is_active = dto.is_active;
    return next;
  }

  private columns(m: FieldMappingEntity) {
    const { source_field, target_field, transform_type, transform_config, default_value, is_required, source_field_path, display_label, sort_order, is_active } = m;
    return {
      source_field,
      target_field,
      transform_type,
      transform_config: transform_config as never,
      default_value,
      is_required,
      source_field_path,
      display_label,
      sort_order,
      is_active,
    };
  }

  /**
   * 400 (lookup map), then 422 (schema, transform shape, required), then 409 (unique source),
   * every failing field of the batch at once. `prefix` null: single write, no prefix.
   */
  private async assertValid(manager: EntityManager, config: IntegrationConfigEntity, rows: FieldMappingEntity[], prefix: string | null, replacing?: string): Promise<void> {
    const type: IntegrationTypeDefinition = this.registry.get(config.integration_type);
    const at = (i: number) => (prefix ? `${prefix}[${i}].` : '');
    const invalid = rows.flatMap((row, i) => lookupMapErrors(row, at(i)));
    if (invalid.length > 0) throw RuleViolation.validation(invalid);
    const broken = rows.flatMap((row, i) => businessRuleErrors(row, type, at(i)));
    if (broken.length > 0)
      throw new RuleViolation(broken[0].rule, 422, `${broken.length} mapping rule${broken.length === 1 ? '' : 's'} failed: ${broken.map((e) => e.field).join(', ')}`, broken);

    const others = await this.repo(manager).find({
      where: { organization_id: config.organization_id, integration_id: config.id, superseded_at: IsNull(), source_field: In(rows.map((r) => r.source_field)) },
      select: { id: true, source_field: true },
    });
    const taken = new Map(others.filter((o) => !rows.some((r) => r.id === o.id) && o.id !== replacing).map((o) => [o.source_field, o.id]));
    const duplicates: FieldError[] = [];
    rows.forEach((row, i) => {
      const clash = taken.get(row.source_field) ?? (rows.findIndex((r) => r.source_field === row.source_field) < i ? 'this request' : undefined);
      if (clash) duplicates.push({ field: `${at(i)}source_field`, rule: UNIQUE_SOURCE_FIELD, message: `${row.source_field} is already mapped (${clash})` });
    });
    if (duplicates.length > 0) throw new RuleViolation(UNIQUE_SOURCE_FIELD, 409, `Already mapped: ${duplicates.map((d) => d.field).join(', ')}.`, duplicates);
  }

  private assertCurrent(mapping: FieldMappingEntity): void {
    if (mapping.superseded_at) {
      throw new RuleViolation(MAPPING_VERSION_SUPERSEDED, 409, `Version ${mapping.version} was superseded and is kept read-only; change the current version.`);
    }
  }

  private immutable(fields: string[]): RuleViolation {
    return new RuleViolation(
      IMMUTABLE_AFTER_EXPORT_USE,
      409,
      'This mapping was used by a completed export: create a new version (POST /{id}/versions) to change it.',
      fields.map((field) => ({ field, rule: IMMUTABLE_AFTER_EXPORT_USE, message: `${field} is frozen since the mapping was used by an export` })),
    );
  }
}
