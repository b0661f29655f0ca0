import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';
import { DEFAULT_PAGE_SIZE, seqCursorAfter, toPage, type PageQueryDto } from '../common/pagination';
import { RuleViolation } from '../common/rule-violation';
import type { CompiledMapping } from '../export';
import { FieldMappingEntity } from '../field-mapping/field-mapping.entity';
import { FieldMappingService } from '../field-mapping/field-mapping.service';
import type { IntegrationConfigEntity } from '../integration-config/integration-config.entity';
import { IntegrationConfigService } from '../integration-config/integration-config.service';
import { DISABLED_MUST_NOT_SYNC } from '../integration-config/integration-config.rules';
import { MAX_EXPORT_WARNINGS, type ExportRunListResponse, type ExportRunResponse, type ExportRunSummaryResponse } from './dto/export.dto';
import { ExportRunEntity, type ExportResult, type ExportRow, type ExportSkip } from './export-run.entity';
import { InjectMeanderDataSource } from '../database/database.module';

export const COVERAGE_CHECK_BEFORE_EXPORT = 'coverage_check_before_export';
/** Per-record warnings beyond this many are summarized: a bad batch must not bloat the answer. */
const MAX_WARNINGS = MAX_EXPORT_WARNINGS;
const MAX_CLAIM_ID_LENGTH = 255;

/** A record's claim_id as rows and skips echo it: a string or number, else null (never an object). */
function claimIdOf(record: unknown): string | null {
  const value = (record as { claim_id?: unknown } | null)?.claim_id;
  if (typeof value === 'string') return value.length <= MAX_CLAIM_ID_LENGTH ? value : null;
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
}

/** Turns expense claims into the records an external system expects, and records each export. */
@Injectable()
export class ExportRunService {
  private readonly logger = new Logger('Export');

  constructor(
    @InjectMeanderDataSource() private readonly dataSource: DataSource,
    private readonly configs: IntegrationConfigService,
    private readonly mappings: FieldMappingService,
  ) {}

  /** Serialize without side effects; coverage problems are warnings. */
  async preview(orgId: string, integrationId: string, records: unknown[]): Promise<ExportResult> {
    const manager = this.dataSource.manager;
    const config = await this.configs.findOrFail(manager, orgId, integrationId);
    const coverage = await this.mappings.coverageOf(manager, config);
    const { mapping } = await this.mappings.compile(manager, config);
    const result = runMapping(mapping, records);
    result.warnings.unshift(...coverage.missing_target_fields.map((target) => `missing_target_field:${target}`));
    return result;
  }

  /**
   * Run an export and record it: the run row and `used_in_export` on the mappings it used are
   * written in one transaction, so a failure leaves neither.
   */
  async run(orgId: string, integrationId: string, records: unknown[], actor: Principal): Promise<ExportRunResponse> {
    const startedAt = new Date();
    this.logger.log({ event: 'export_started', org_id: orgId, config_id: integrationId, records: records.length, actor: actor.sub, req: actor.request });
    const run = await this.dataSource.transaction(async (manager) => {
      // The config row lock also holds mapping writes (they lock it) until the run is recorded.
      const config = await this.configs.findOrFail(manager, orgId, integrationId, true);
      if (!config.enabled) throw new RuleViolation(DISABLED_MUST_NOT_SYNC, 409, 'This integration is disabled: nothing may be exported to it.');
      await this.assertCoverage(manager, config);
      const { mapping, mappings } = await this.mappings.compile(manager, config);
      const result = runMapping(mapping, records);
      const entity = Object.assign(new ExportRunEntity(), {
        id: randomUUID(),
        organization_id: orgId,
        integration_id: integrationId,
        status: 'completed' as const,
        started_at: startedAt,
        finished_at: new Date(),
        row_count: result.rows.length,
        skipped_count: result.skipped.length,
        mappings_used: mappings.map((m) => ({ mapping_id: m.id, version: m.version })),
        result,
        created_by: actor.sub,
      });
      await manager.getRepository(ExportRunEntity).insert(entity as never);
      if (mappings.length > 0) {
        await manager.getRepository(FieldMappingEntity).update({ organization_id: orgId, id: In(mappings.map((m) => m.id)) }, { used_in_export: true });
      }
      return entity;
    });
    this.logger.log({ event: 'export_completed', org_id: orgId, config_id: integrationId, export_id: run.id, rows: run.row_count, skipped: run.skipped_count, actor: actor.sub, req: actor.request });
    return toRunResponse(run);
  }

  async list(orgId: string, integrationId: string, page: PageQueryDto): Promise<ExportRunListResponse> {
    await this.configs.findOrFail(this.dataSource.manager, orgId, integrationId);
    const limit = page.limit ?? DEFAULT_PAGE_SIZE;
    const after = seqCursorAfter(page);
    const query = this.dataSource
      .getRepository(ExportRunEntity)
      .createQueryBuilder('run')
      .select(['run.seq', 'run.id', 'run.integration_id', 'run.status', 'run.started_at', 'run.finished_at', 'run.row_count', 'run.skipped_count', 'run.mappings_used', 'run.created_by'])
      .where('run.organization_id = :orgId AND run.integration_id = :integrationId', { orgId, integrationId })
      .orderBy('run.seq', 'DESC')
      .limit(limit + 1);
    if (after) query.andWhere('run.seq < :after', { after });
    return toPage(await query.getMany(), limit, toSummary);
  }

  async get(orgId: string, integrationId: string, id: string): Promise<ExportRunResponse> {
    const run = await this.dataSource.getRepository(ExportRunEntity).findOne({ where: { organization_id: orgId, integration_id: integrationId, id } });
    if (!run) throw RuleViolation.notFound('Export run');
    return toRunResponse(run);
  }

  private async assertCoverage(manager: EntityManager, config: IntegrationConfigEntity): Promise<void> {
    const coverage = await this.mappings.coverageOf(manager, config);
    if (!coverage.complete) {
      throw new RuleViolation(
        COVERAGE_CHECK_BEFORE_EXPORT,
        422,
        `Required target fields without an active mapping: ${coverage.missing_target_fields.join(', ')}.`,
        coverage.missing_target_fields.map((target) => ({ field: target, rule: COVERAGE_CHECK_BEFORE_EXPORT, message: `required target field ${target} has no active mapping` })),
      );
    }
  }
}

/** Applies a compiled mapping to every record: rows, skipped records and warnings. */
export function runMapping(mapping: CompiledMapping, records: unknown[]): ExportResult {
  const rows: ExportRow[] = [];
  const skipped: ExportSkip[] = [];
  const warnings = new Set<string>();
  let dropped = 0;
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    const result = mapping(record);
    const claimId = claimIdOf(record);
    if (result.skipped_reason) skipped.push({ index, claim_id: claimId, reason: result.skipped_reason });
    else rows.push({ index, claim_id: claimId, output: result.output });
    for (const warning of result.warnings) {
      if (warnings.size < MAX_WARNINGS) warnings.add(warning);
      else dropped++;
    }
  }
  const list = [...warnings];
  if (dropped > 0) list.push(`more_warnings_omitted:${dropped}`);
  return { rows, skipped, warnings: list };
}

function toSummary(run: ExportRunEntity): ExportRunSummaryResponse {
  return {
    id: run.id,
    integration_id: run.integration_id,
    status: run.status,
    started_at: run.started_at.toISOString(),
    finished_at: run.finished_at.toISOString(),
    row_count: run.row_count,
    skipped_count: run.skipped_count,
    mappings_used: run.mappings_used,
    created_by: run.created_by,
  };
}

function toRunResponse(run: ExportRunEntity): ExportRunResponse {
  return { ...toSummary(run), rows: run.result.rows, skipped: run.result.skipped, warnings: run.result.warnings };
}
