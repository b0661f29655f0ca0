import { countOf } from '../common/count-of';
import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { changedFieldNames, configResource, mappingResource } from '../audit/audit-actions';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import type { FieldError } from '../common/problem';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { TransactionRunner, type Transaction } from '../database/transaction';
import { compileMappings, coverage, mappingWriteWarnings, RESERVED_TARGET_FIELDS, type CompileContext, type MappingResult, type MappingSpec } from '../export';
import { deliveryRefusalWarnings } from '../sync/delivery-refusals';
import type { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';
import type { IntegrationTypeDefinition } from '../integration-types/integration-type';
import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';
import { ConnectorRegistry } from '../sync/connector.registry';
import type { CreateFieldMappingDto, UpdateFieldMappingDto } from './dto/field-mapping-request.dto';
import type { CoverageResponse, FieldMappingResponse, FieldMappingWriteResponse } from './dto/field-mapping-response.dto';
import { FieldMappingEntity } from './field-mapping.entity';
import { toFieldMappingResponse } from './field-mapping.mapper';
import { FieldMappingRepository } from './field-mapping.repository';
import { businessRuleErrors, changedExportFields, lookupMapErrors, toMappingSpec } from './field-mapping.rules';

type MappingWrite = Partial<CreateFieldMappingDto & UpdateFieldMappingDto>;

/** The fields of a mapping a write can change, as the audit trail names them. */
const MAPPING_FIELDS = [
  'source_field',
  'target_field',
  'transform_type',
  'transform_config',
  'default_value',
  'is_required',
  'source_field_path',
  'display_label',
  'sort_order',
  'is_active',
] as const;

/**
 * Field mappings of an integration: CRUD, versions, order, coverage and preview. Every write
 * locks the integration's config row first, so concurrent writes to one integration queue up.
 */
@Injectable()
export class FieldMappingService {
  constructor(
    private readonly mappings: FieldMappingRepository,
    private readonly configs: IntegrationConfigRepository,
    private readonly transactions: TransactionRunner,
    private readonly registry: IntegrationTypeRegistry,
    private readonly audit: AuditService,
    private readonly connectors: ConnectorRegistry,
  ) {}

  // --- reads ---

  async list(orgId: string, integrationId: string, isActive?: boolean): Promise<FieldMappingResponse[]> {
    await this.config(orgId, integrationId);
    return (await this.mappings.listCurrent(orgId, integrationId, { isActive })).map(toFieldMappingResponse);
  }

  async get(orgId: string, integrationId: string, id: string): Promise<FieldMappingResponse> {
    return toFieldMappingResponse(await this.mapping(orgId, integrationId, id));
  }

  async versions(orgId: string, integrationId: string, id: string): Promise<FieldMappingResponse[]> {
    const mapping = await this.mapping(orgId, integrationId, id);
    return (await this.mappings.listLineage(orgId, integrationId, mapping.lineage_id)).map(toFieldMappingResponse);
  }

  async coverage(orgId: string, integrationId: string): Promise<CoverageResponse> {
    return (await this.mappingInputs(orgId, await this.config(orgId, integrationId))).coverage;
  }

  /**
   * The record mapped, warned as an export preview of `[record]` would warn it: a row delivery
   * would refuse is `delivery_would_refuse:0:<message>` (index 0, its place in that export), the
   * same warning word for word. A skipped record is no row: delivery never gets it.
   */
  async preview(orgId: string, integrationId: string, record: Record<string, unknown>): Promise<MappingResult> {
    const config = await this.config(orgId, integrationId);
    const { specs, context } = await this.mappingInputs(orgId, config);
    const result = compileMappings(specs, context)(record);
    if (result.skipped_reason) return result;
    const refusals = deliveryRefusalWarnings(this.connectors.find(config.integration_type), [{ index: 0, claim_id: null, output: result.output }]);
    return { ...result, warnings: [...result.warnings, ...refusals] };
  }

  /** Written mappings with their `warnings` (docs/api-decisions.md): read after the write, outside its transaction. */
  async withWriteWarnings(orgId: string, integrationId: string, written: FieldMappingResponse[]): Promise<FieldMappingWriteResponse[]> {
    const config = await this.config(orgId, integrationId);
    const context: CompileContext = { sourceFields: this.registry.get(config.integration_type).source_fields, accountingCodeMappings: config.accounting_code_mappings ?? null };
    return written.map((m) => ({ ...m, warnings: mappingWriteWarnings({ ...m, transform_type: m.transform_type as MappingSpec['transform_type'] }, context) }));
  }

  /**
   * What the export core needs to map records with the integration's active mappings, and their
   * coverage: one read of the mappings for both.
   */
  async mappingInputs(
    orgId: string,
    config: IntegrationConfigEntity,
    tx?: Transaction,
  ): Promise<{ specs: MappingSpec[]; context: CompileContext; mappings: FieldMappingEntity[]; coverage: CoverageResponse }> {
    const mappings = await this.repo(tx).listActive(orgId, config.id);
    const type = this.registry.get(config.integration_type);
    const context: CompileContext = { sourceFields: type.source_fields, accountingCodeMappings: config.accounting_code_mappings ?? null };
    const specs = mappings.map(toMappingSpec);
    return { specs, context, mappings, coverage: coverage(specs, type.required_target_fields) };
  }

  // --- writes ---

  async create(orgId: string, integrationId: string, dto: CreateFieldMappingDto, actor: Principal): Promise<FieldMappingResponse> {
    const [created] = await this.createMany(orgId, integrationId, [dto], false, actor);
    return created;
  }

  async bulkCreate(orgId: string, integrationId: string, items: CreateFieldMappingDto[], actor: Principal): Promise<FieldMappingResponse[]> {
    return this.createMany(orgId, integrationId, items, true, actor);
  }

  async update(orgId: string, integrationId: string, id: string, dto: UpdateFieldMappingDto, actor: Principal): Promise<FieldMappingResponse> {
    return this.transactions.run(async (tx) => {
      const config = await this.lockConfig(orgId, integrationId, actor, tx);
      const current = await this.mapping(orgId, integrationId, id, tx);
      this.assertCurrent(current);
      const next = this.merge(current, dto);
      const frozen = current.used_in_export ? changedExportFields(current, next) : [];
      if (frozen.length > 0) throw this.immutable(frozen);
      await this.assertValid(orgId, config, [next], '', tx);
      await this.mappings.in(tx).updateByOrgAndId(orgId, id, this.columns(next));
      const changedFields = changedFieldNames(this.columns(current), this.columns(next), MAPPING_FIELDS);
      await this.audit.record({ orgId, actor, action: 'field_mapping.updated', resource: mappingResource(integrationId, id), changedFields }, tx);
      return toFieldMappingResponse(await this.mapping(orgId, integrationId, id, tx));
    });
  }

  async remove(orgId: string, integrationId: string, id: string, actor: Principal): Promise<void> {
    await this.transactions.run(async (tx) => {
      await this.lockConfig(orgId, integrationId, actor, tx);
      const current = await this.mapping(orgId, integrationId, id, tx);
      this.assertCurrent(current);
      if (current.used_in_export) {
        throw new RuleViolation('immutable_after_export_use', 'This mapping was used by a completed export and is kept for audit: deactivate it (is_active: false) instead.');
      }
      await this.mappings.in(tx).deleteByOrgAndId(orgId, integrationId, id);
      await this.audit.record({ orgId, actor, action: 'field_mapping.deleted', resource: mappingResource(integrationId, id), details: { source_field: current.source_field } }, tx);
    });
  }

  /** Version n+1 with the changes; the old version becomes inactive and read-only, in one transaction. */
  async createVersion(orgId: string, integrationId: string, id: string, dto: UpdateFieldMappingDto, actor: Principal): Promise<FieldMappingResponse> {
    return this.transactions.run(async (tx) => {
      const config = await this.lockConfig(orgId, integrationId, actor, tx);
      const current = await this.mapping(orgId, integrationId, id, tx);
      this.assertCurrent(current);
      const next = this.merge(current, { is_active: true, ...dto });
      Object.assign(next, { id: randomUUID(), version: current.version + 1, previous_version_id: current.id, used_in_export: false, superseded_at: null });
      await this.assertValid(orgId, config, [next], '', tx, current.id);
      const mappings = this.mappings.in(tx);
      // Supersede first: the unique index covers current versions only.
      await mappings.supersede(orgId, current.id);
      await mappings.insert(next);
      const changedFields = changedFieldNames(this.columns(current), this.columns(next), MAPPING_FIELDS);
      const details = { version: next.version, previous_version_id: current.id };
      await this.audit.record({ orgId, actor, action: 'field_mapping.version_created', resource: mappingResource(integrationId, next.id), changedFields, details }, tx);
      return toFieldMappingResponse(await this.mapping(orgId, integrationId, next.id, tx));
    });
  }

  async reorder(orgId: string, integrationId: string, ids: string[], actor: Principal): Promise<FieldMappingResponse[]> {
    const wanted = ids.map((id) => id.toLowerCase());
    const duplicates = wanted.map((id, i) => (wanted.indexOf(id) !== i ? i : -1)).filter((i) => i >= 0);
    if (duplicates.length > 0) {
      throw RuleViolation.validation(duplicates.map((i) => ({ field: `ids[${i}]`, rule: 'ids_must_be_unique', message: 'each id may appear once' })));
    }
    return this.transactions.run(async (tx) => {
      await this.lockConfig(orgId, integrationId, actor, tx);
      const mappings = this.mappings.in(tx);
      const currentMappings = await mappings.listCurrent(orgId, integrationId);
      const known = new Set(currentMappings.map((m) => m.id));
      const foreign = wanted.map((id, i) => (known.has(id) ? -1 : i)).filter((i) => i >= 0);
      if (foreign.length > 0) {
        throw new RuleViolation(
          'order_ids_must_belong_to_integration',
          'Every id must be a current field mapping of this integration.',
          foreign.map((i) => ({ field: `ids[${i}]`, rule: 'order_ids_must_belong_to_integration', message: `${ids[i]} is not a current mapping of this integration` })),
        );
      }
      // Listed ids take 0..n-1; the others keep their relative order after them.
      const order = [...wanted, ...currentMappings.map((m) => m.id).filter((id) => !wanted.includes(id))];
      for (const [position, id] of order.entries()) {
        await mappings.updateByOrgAndId(orgId, id, { sort_order: position });
      }
      await this.audit.record(
        {
          orgId,
          actor,
          action: 'field_mapping.reordered',
          resource: configResource(integrationId),
          changedFields: ['sort_order'],
          details: { ids: order },
        },
        tx,
      );
      return (await mappings.listCurrent(orgId, integrationId)).map(toFieldMappingResponse);
    });
  }

  // --- what the config shows and writes of its mappings ---

  /** The `{source_field: target_field}` view of each config's active mappings (on every config read). */
  views(orgId: string, integrationIds: string[], tx?: Transaction): Promise<Map<string, Record<string, string>>> {
    return this.repo(tx).activeViews(orgId, integrationIds);
  }

  /** Applies the `field_mappings` shorthand of a config create or PATCH, inside its transaction. */
  async applyShorthand(orgId: string, config: IntegrationConfigEntity, shorthand: Record<string, string>, tx: Transaction, actor: Principal): Promise<void> {
    // The mapping routes' DTOs refuse these targets; the shorthand's values are targets too.
    const reserved = Object.entries(shorthand).filter(([, target]) => RESERVED_TARGET_FIELDS.has(target.trim()));
    if (reserved.length > 0) {
      throw RuleViolation.validation(
        reserved.map(([source, target]) => ({
          field: `field_mappings.${source}`,
          rule: 'target_field_must_not_be_reserved',
          message: `a target field must not be ${target.trim()}`,
        })),
      );
    }
    const type = this.registry.get(config.integration_type);
    const unknown = Object.keys(shorthand).filter((source) => !type.source_fields.some((f) => f.name === source));
    if (unknown.length > 0) {
      throw new RuleViolation(
        'source_field_must_exist_in_internal_schema',
        `Not source fields of ${type.integration_type}: ${unknown.join(', ')}.`,
        unknown.map((source) => ({
          field: `field_mappings.${source}`,
          rule: 'source_field_must_exist_in_internal_schema',
          message: `${source} is not a source field of ${type.integration_type}`,
        })),
      );
    }
    const mappings = this.mappings.in(tx);
    const current = await mappings.listCurrent(orgId, config.id);
    const bySource = new Map(current.map((m) => [m.source_field, m]));
    let nextSortOrder = current.reduce((max, m) => Math.max(max, m.sort_order + 1), 0);
    const frozen: FieldError[] = [];
    for (const [source, target] of Object.entries(shorthand)) {
      const existing = bySource.get(source);
      if (!existing) {
        const created = this.newMapping(orgId, config.id, { source_field: source, target_field: target.trim() }, nextSortOrder++);
        await mappings.insert(created);
        await this.audit.record(
          {
            orgId,
            actor,
            action: 'field_mapping.created',
            resource: mappingResource(config.id, created.id),
            changedFields: ['source_field', 'target_field'],
            details: { shorthand: true },
          },
          tx,
        );
        continue;
      }
      // The same rules as a field-mapping update: a changed target on a used mapping is refused.
      const next = this.merge(existing, { target_field: target.trim(), is_active: true });
      if (existing.used_in_export && changedExportFields(existing, next).length > 0) {
        frozen.push({
          field: `field_mappings.${source}`,
          rule: 'immutable_after_export_use',
          message: `the mapping of ${source} was used by an export: create a new version to change its target`,
        });
        continue;
      }
      if (next.target_field !== existing.target_field || !existing.is_active) {
        await mappings.updateByOrgAndId(orgId, existing.id, { target_field: next.target_field, is_active: true });
        const changedFields = changedFieldNames(this.columns(existing), this.columns(next), MAPPING_FIELDS);
        await this.audit.record(
          { orgId, actor, action: 'field_mapping.updated', resource: mappingResource(config.id, existing.id), changedFields, details: { shorthand: true } },
          tx,
        );
      }
    }
    if (frozen.length > 0) throw new RuleViolation('immutable_after_export_use', 'Some mappings were used by a completed export.', frozen);
    const dropped = current.filter((m) => m.is_active && !(m.source_field in shorthand));
    await mappings.deactivate(
      orgId,
      dropped.map((m) => m.id),
    );
    for (const mapping of dropped) {
      await this.audit.record(
        { orgId, actor, action: 'field_mapping.updated', resource: mappingResource(config.id, mapping.id), changedFields: ['is_active'], details: { shorthand: true } },
        tx,
      );
    }
  }

  // --- internals ---

  private repo(tx?: Transaction): FieldMappingRepository {
    return tx ? this.mappings.in(tx) : this.mappings;
  }

  private async config(orgId: string, integrationId: string): Promise<IntegrationConfigEntity> {
    return foundOr404(await this.configs.findByOrgAndId(orgId, integrationId), 'Integration config');
  }

  /**
   * Every mapping write locks its config's row first, so concurrent writes to one integration queue
   * up, and gives the config a new revision (rolled back with a refused write): its
   * `field_mappings` may change, so its ETag must, and a PATCH with an If-Match read before it
   * must not overwrite it unseen.
   */
  private async lockConfig(orgId: string, integrationId: string, actor: Principal, tx: Transaction): Promise<IntegrationConfigEntity> {
    return foundOr404(await this.configs.in(tx).lockForNewRevision(orgId, integrationId, actor.sub), 'Integration config');
  }

  private async mapping(orgId: string, integrationId: string, id: string, tx?: Transaction): Promise<FieldMappingEntity> {
    return foundOr404(await this.repo(tx).findByOrgAndId(orgId, integrationId, id), 'Field mapping');
  }

  private async createMany(orgId: string, integrationId: string, items: CreateFieldMappingDto[], bulk: boolean, actor: Principal): Promise<FieldMappingResponse[]> {
    return this.transactions.run(async (tx) => {
      const config = await this.lockConfig(orgId, integrationId, actor, tx);
      const mappings = this.mappings.in(tx);
      let nextSortOrder = await mappings.nextSortOrder(orgId, integrationId);
      const rows = items.map((item) => this.newMapping(orgId, integrationId, item, item.sort_order ?? nextSortOrder++));
      await this.assertValid(orgId, config, rows, bulk ? 'items' : null, tx);
      await mappings.insert(rows);
      for (const [i, row] of rows.entries()) {
        const changedFields = MAPPING_FIELDS.filter((field) => items[i][field] !== undefined);
        await this.audit.record({ orgId, actor, action: 'field_mapping.created', resource: mappingResource(integrationId, row.id), changedFields, details: { bulk } }, tx);
      }
      const stored = await mappings.findByOrgAndIds(
        orgId,
        rows.map((r) => r.id),
      );
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
      transform_config,
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
   * every failing field of the batch at once. `prefix` null: single write, no prefix. A source
   * field's repeats in the request are only the 409: compiling their formulas (500 items of one
   * source, each with a long formula) would hold the event loop for nothing.
   */
  private async assertValid(orgId: string, config: IntegrationConfigEntity, rows: FieldMappingEntity[], prefix: string | null, tx: Transaction, replacing?: string): Promise<void> {
    const type: IntegrationTypeDefinition = this.registry.get(config.integration_type);
    const at = (i: number) => (prefix ? `${prefix}[${i}].` : '');
    const invalid = rows.flatMap((row, i) => lookupMapErrors(row, at(i)));
    if (invalid.length > 0) throw RuleViolation.validation(invalid);
    const seen = new Set<string>();
    const firsts = rows.map((row, i) => ({ row, i })).filter(({ row }) => !seen.has(row.source_field) && seen.add(row.source_field));
    const broken = firsts.flatMap(({ row, i }) => businessRuleErrors(row, type, at(i)));
    if (broken.length > 0) throw new RuleViolation(broken[0].rule, `${countOf(broken.length, 'mapping rule')} failed: ${broken.map((e) => e.field).join(', ')}`, broken);

    const others = await this.mappings.in(tx).listCurrentBySources(
      orgId,
      config.id,
      rows.map((r) => r.source_field),
    );
    const taken = new Map(others.filter((o) => !rows.some((r) => r.id === o.id) && o.id !== replacing).map((o) => [o.source_field, o.id]));
    const duplicates: FieldError[] = [];
    rows.forEach((row, i) => {
      const clash = taken.get(row.source_field) ?? (rows.findIndex((r) => r.source_field === row.source_field) < i ? 'this request' : undefined);
      if (clash) duplicates.push({ field: `${at(i)}source_field`, rule: 'unique_source_field_per_integration', message: `${row.source_field} is already mapped (${clash})` });
    });
    if (duplicates.length > 0) throw new RuleViolation('unique_source_field_per_integration', `Already mapped: ${duplicates.map((d) => d.field).join(', ')}.`, duplicates);
  }

  private assertCurrent(mapping: FieldMappingEntity): void {
    if (mapping.superseded_at) {
      throw new RuleViolation('mapping_version_superseded', `Version ${mapping.version} was superseded and is kept read-only; change the current version.`);
    }
  }

  private immutable(fields: string[]): RuleViolation {
    return new RuleViolation(
      'immutable_after_export_use',
      'This mapping was used by a completed export: create a new version (POST /{id}/versions) to change it.',
      fields.map((field) => ({ field, rule: 'immutable_after_export_use', message: `${field} is frozen since the mapping was used by an export` })),
    );
  }
}
