import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import type { Principal } from '../auth/principal';
import { DEFAULT_PAGE_SIZE, seqCursorAfter, toPage, type PageQueryDto } from '../common/pagination';
import { RuleViolation } from '../common/rule-violation';
import type { MappingTask } from '../export';
import { FieldMappingEntity } from '../field-mapping/field-mapping.entity';
import { FieldMappingService } from '../field-mapping/field-mapping.service';
import { IntegrationConfigService } from '../integration-config/integration-config.service';
import { DISABLED_MUST_NOT_SYNC } from '../integration-config/integration-config.rules';
import type { ExportRunListResponse, ExportRunResponse, ExportRunSummaryResponse } from './dto/export.dto';
import { ExportRunEntity, type ExportResult } from './export-run.entity';
import { MappingPool } from './mapping-pool';
import { InjectMeanderDataSource } from '../database/database.module';

export const COVERAGE_CHECK_BEFORE_EXPORT = 'coverage_check_before_export';
export const EXPORT_OUTPUT_WITHIN_BOUNDS = 'export_output_within_bounds';

/** Turns expense claims into the records an external system expects, and records each export. */
@Injectable()
export class ExportRunService {
  private readonly logger = new Logger('Export');

  constructor(
    @InjectMeanderDataSource() private readonly dataSource: DataSource,
    private readonly configs: IntegrationConfigService,
    private readonly mappings: FieldMappingService,
    private readonly pool: MappingPool,
  ) {}

  /** Serialize without side effects; coverage problems are warnings. */
  async preview(orgId: string, integrationId: string, records: unknown[]): Promise<ExportResult> {
    const manager = this.dataSource.manager;
    const config = await this.configs.findOrFail(manager, orgId, integrationId);
    const { specs, context, coverage } = await this.mappings.mappingInputs(manager, config);
    const result = await this.map({ specs, context, records });
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
      const { specs, context, mappings, coverage } = await this.mappings.mappingInputs(manager, config);
      assertCoverage(coverage);
      const result = await this.map({ specs, context, records });
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
    this.logger.log({
      event: 'export_completed',
      org_id: orgId,
      config_id: integrationId,
      export_id: run.id,
      rows: run.row_count,
      skipped: run.skipped_count,
      actor: actor.sub,
      req: actor.request,
    });
    return toRunResponse(run);
  }

  async list(orgId: string, integrationId: string, page: PageQueryDto): Promise<ExportRunListResponse> {
    await this.configs.findOrFail(this.dataSource.manager, orgId, integrationId);
    const limit = page.limit ?? DEFAULT_PAGE_SIZE;
    const after = seqCursorAfter(page);
    const query = this.dataSource
      .getRepository(ExportRunEntity)
      .createQueryBuilder('run')
      .select([
        'run.seq',
        'run.id',
        'run.integration_id',
        'run.status',
        'run.started_at',
        'run.finished_at',
        'run.row_count',
        'run.skipped_count',
        'run.mappings_used',
        'run.created_by',
      ])
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

  /** The records mapped off the event loop when there are many; too large an output is a 422. */
  private async map(task: MappingTask): Promise<ExportResult> {
    const outcome = await this.pool.run(task);
    if (outcome.ok) return outcome.result;
    throw new RuleViolation(EXPORT_OUTPUT_WITHIN_BOUNDS, 422, `The export would produce more than ${outcome.limit} bytes: send fewer records, or map fewer or shorter values.`, [
      { field: 'records', rule: EXPORT_OUTPUT_WITHIN_BOUNDS, message: `the mapped output exceeds ${outcome.limit} bytes` },
    ]);
  }
}

/** coverage_check_before_export: every required target field has an active mapping. */
function assertCoverage(coverage: { complete: boolean; missing_target_fields: string[] }): void {
  if (!coverage.complete) {
    throw new RuleViolation(
      COVERAGE_CHECK_BEFORE_EXPORT,
      422,
      `Required target fields without an active mapping: ${coverage.missing_target_fields.join(', ')}.`,
      coverage.missing_target_fields.map((target) => ({ field: target, rule: COVERAGE_CHECK_BEFORE_EXPORT, message: `required target field ${target} has no active mapping` })),
    );
  }
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
