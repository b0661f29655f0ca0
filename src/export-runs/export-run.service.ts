import { randomUUID } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { mapPage, type PageQueryDto } from '../common/pagination';
import { PageCursors } from '../crypto/page-cursors';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { TransactionRunner, type Transaction } from '../database/transaction';
import { cappedWarnings, DUPLICATE_TARGET_FIELD, type MappingTask } from '../export';
import { FieldMappingRepository } from '../field-mapping/field-mapping.repository';
import { FieldMappingService } from '../field-mapping/field-mapping.service';
import { IntegrationConfigRepository } from '../integration-config/integration-config.repository';
import { missingForEnable } from '../integration-config/integration-config.rules';
import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';

import type { ExportRunListResponse, ExportRunResponse, ExportRunRowListResponse, ExportRunSummaryResponse } from './dto/export.dto';
import { ExportRunEntity, ExportRunRowEntity, type ExportResult } from './export-run.entity';
import { ExportRunRowRepository } from './export-run-row.repository';
import { ExportRunRepository } from './export-run.repository';
import { JobQueue } from '../job-queue/job-queue';
import { ConnectorRegistry } from '../sync/connector.registry';
import { deliveryRefusalWarnings } from '../sync/delivery-refusals';
import { MappingPool } from './mapping-pool';

const CONFIG = 'Integration config';
/** Rows whose delivery check (Connector.refusalOf) runs in one turn of the event loop. */
const REFUSAL_CHECK_SLICE = 2_000;
/** Mappings of one export, should the integration's mappings keep changing while it maps. */
export const MAX_EXPORT_MAPPINGS = 3;

/** What an export's output depends on: the mappings (each spec carries its id and version, which the run records) and the context. */
function mappedWith(inputs: Pick<MappingTask, 'specs' | 'context'>) {
  return { specs: inputs.specs, context: inputs.context };
}

/** Turns expense claims into the records an external system expects, and records each export. */
@Injectable()
export class ExportRunService {
  private readonly logger = new Logger('Export');

  constructor(
    private readonly runs: ExportRunRepository,
    private readonly rowStates: ExportRunRowRepository,
    private readonly jobs: JobQueue,
    private readonly configs: IntegrationConfigRepository,
    private readonly mappingRows: FieldMappingRepository,
    private readonly transactions: TransactionRunner,
    private readonly mappings: FieldMappingService,
    private readonly pool: MappingPool,
    private readonly audit: AuditService,
    private readonly registry: IntegrationTypeRegistry,
    private readonly cursors: PageCursors,
    private readonly connectors: ConnectorRegistry,
  ) {}

  /** Serialize without side effects; coverage problems, and rows delivery would refuse, are warnings. */
  async preview(orgId: string, integrationId: string, records: unknown[]): Promise<ExportResult> {
    const config = foundOr404(await this.configs.findByOrgAndId(orgId, integrationId), CONFIG);
    const { specs, context, coverage } = await this.mappings.mappingInputs(orgId, config);
    const result = await this.map(orgId, { specs, context, records });
    const duplicates = coverage.warnings.filter((warning) => warning.startsWith(`${DUPLICATE_TARGET_FIELD}:`));
    // Coverage first, all under the one cap: the answer's warnings are bounded whatever their source.
    const coverageWarnings = [...coverage.missing_target_fields.map((target) => `missing_target_field:${target}`), ...duplicates];
    return await this.withRefusals(config.integration_type, result, coverageWarnings);
  }

  /**
   * Run an export and record it: the run row and `used_in_export` on the mappings it used are
   * written in one transaction, so a failure leaves neither. The records are mapped before it, on
   * no connection and no lock: a worker's queue wait and the mapping's CPU must not hold the
   * config's row lock, for which every other export of the config would wait holding a pool
   * connection of its own (and starve every organization's requests). The transaction then takes
   * the lock and stores the output only if the mappings and the config's inputs to them are still
   * those it was mapped with; changed meanwhile, the records are mapped again.
   */
  async run(orgId: string, integrationId: string, records: unknown[], actor: Principal, options: { deliver?: boolean } = {}): Promise<ExportRunResponse> {
    const startedAt = new Date();
    this.logger.log({ event: 'export_started', org_id: orgId, config_id: integrationId, records: records.length, actor: actor.sub, req: actor.request });
    let run: ExportRunEntity | null = null;
    for (let attempt = 1; run === null; attempt++) {
      if (attempt > MAX_EXPORT_MAPPINGS) {
        throw new RuleViolation('conflict', `The integration's mappings changed while the records were mapped, ${MAX_EXPORT_MAPPINGS} times: retry the export.`, [], 1);
      }
      const inputs = await this.exportInputs(orgId, integrationId, options);
      const result = await this.withRefusals(inputs.config.integration_type, await this.map(orgId, { specs: inputs.specs, context: inputs.context, records }));
      run = await this.transactions.run(async (tx) => {
        // The config row lock also holds mapping writes (they lock it) until the run is recorded.
        const current = await this.exportInputs(orgId, integrationId, options, tx);
        if (!isDeepStrictEqual(mappedWith(current), mappedWith(inputs))) return null;
        const entity = Object.assign(new ExportRunEntity(), {
          id: randomUUID(),
          organization_id: orgId,
          integration_id: integrationId,
          status: options.deliver ? 'queued' : 'completed',
          started_at: startedAt,
          finished_at: new Date(),
          row_count: result.rows.length,
          skipped_count: result.skipped.length,
          mappings_used: current.mappings.map((m) => ({ mapping_id: m.id, version: m.version })),
          result,
          created_by: actor.sub,
          delivery_attempts: 0,
          delivered_count: 0,
          failed_count: 0,
          next_attempt_at: null,
          last_error: null,
        });
        await this.runs.in(tx).insert(entity);
        // Queued for delivery: each row with its state (skipped ones too, so the list is whole).
        if (options.deliver) await this.rowStates.in(tx).insert(deliveryRows(orgId, entity));
        if (options.deliver) {
          await this.audit.record(
            { orgId, actor, action: 'delivery.requested', resource: { type: 'export_run', id: entity.id, integrationId }, details: { rows: entity.row_count } },
            tx,
          );
        }
        await this.mappingRows.in(tx).markUsedInExport(
          orgId,
          current.mappings.map((m) => m.id),
        );
        // Sent when the config's schedule says (realtime: at once; manual: on POST /sync). Its job
        // commits with the run: a run without a job would wait for someone to ask, and a retried
        // request after a failed enqueue would create the same claims again under new references.
        if (options.deliver) await this.jobs.scheduleDelivery(current.config, { tx });
        return entity;
      });
    }
    if (options.deliver) this.jobs.wakeDeliveryWorkers();
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
    foundOr404(await this.configs.findByOrgAndId(orgId, integrationId), CONFIG);
    return mapPage(await this.cursors.page(orgId, `export_runs:${integrationId}`, {}, page, (keyset) => this.runs.listPage(orgId, integrationId, keyset)), toSummary);
  }

  async get(orgId: string, integrationId: string, id: string): Promise<ExportRunResponse> {
    return toRunResponse(foundOr404(await this.runs.findByOrgAndId(orgId, integrationId, id), 'Export run'));
  }

  /** The rows of a run queued for delivery, with their states; a run that is not delivered has none. */
  async rows(orgId: string, integrationId: string, id: string, page: PageQueryDto): Promise<ExportRunRowListResponse> {
    if (!(await this.runs.existsByOrgAndId(orgId, integrationId, id))) throw RuleViolation.notFound('Export run');
    const rows = await this.cursors.page(orgId, `export_run_rows:${id}`, {}, page, (keyset) => this.rowStates.listPage(orgId, id, keyset));
    return mapPage(rows, (row) => ({
      index: row.index,
      claim_id: row.claim_id,
      status: row.status,
      external_id: row.external_id,
      error: row.error,
    }));
  }

  /** The config (locked, in `tx`) and the mapping inputs of an export, once every rule before mapping holds. */
  private async exportInputs(orgId: string, integrationId: string, options: { deliver?: boolean }, tx?: Transaction) {
    const config = foundOr404(await (tx ? this.configs.in(tx) : this.configs).findByOrgAndId(orgId, integrationId, { lock: tx !== undefined }), CONFIG);
    if (!config.enabled) throw new RuleViolation('disabled_integration_must_not_sync', 'This integration is disabled: nothing may be exported to it.');
    const inputs = await this.mappings.mappingInputs(orgId, config, tx);
    assertCoverage(inputs.coverage);
    // An enabled config has its credentials (a write may not leave it without), unless it was enabled before a type needed more.
    const missing = options.deliver ? missingForEnable(this.registry.get(config.integration_type), config) : [];
    if (missing.length > 0) throw new RuleViolation('credentials_required_before_enable', `Delivery needs the integration's ${missing.map((m) => m.field).join(', ')}.`, missing);
    return { config, ...inputs };
  }

  /**
   * The result with a `delivery_would_refuse:<index>:<message>` warning for each row the type's
   * connector would refuse unsent (delivery-refusals.ts), after `first`, under the warnings' cap.
   * On the event loop, after the mapping (a worker has no connector): one cheap check a row.
   */
  private async withRefusals(integrationType: string, result: ExportResult, first: string[] = []): Promise<ExportResult> {
    const connector = this.connectors.find(integrationType);
    const refusals: string[] = [];
    for (let start = 0; connector?.refusalOf && start < result.rows.length; start += REFUSAL_CHECK_SLICE) {
      // Other requests' turn between slices: Xledger's check costs ~2.5 µs a row, 25 ms for 10,000.
      if (start > 0) await setImmediate();
      refusals.push(...deliveryRefusalWarnings(connector, result.rows.slice(start, start + REFUSAL_CHECK_SLICE)));
    }
    return { ...result, warnings: cappedWarnings(first, result.warnings, refusals) };
  }

  /** The records mapped off the event loop when there are many (the organization's turn); too large an output is a 422. */
  private async map(orgId: string, task: MappingTask): Promise<ExportResult> {
    const outcome = await this.pool.run(orgId, task);
    if (outcome.ok) return outcome.result;
    throw new RuleViolation('export_output_within_bounds', `The export would produce more than ${outcome.limit} bytes: send fewer records, or map fewer or shorter values.`, [
      { field: 'records', rule: 'export_output_within_bounds', message: `the mapped output exceeds ${outcome.limit} bytes` },
    ]);
  }
}

/** coverage_check_before_export: every required target field has an active mapping. */
function assertCoverage(coverage: { complete: boolean; missing_target_fields: string[] }): void {
  if (!coverage.complete) {
    throw new RuleViolation(
      'coverage_check_before_export',
      `Required target fields without an active mapping: ${coverage.missing_target_fields.join(', ')}.`,
      coverage.missing_target_fields.map((target) => ({ field: target, rule: 'coverage_check_before_export', message: `required target field ${target} has no active mapping` })),
    );
  }
}

function deliveryRows(orgId: string, run: ExportRunEntity): ExportRunRowEntity[] {
  const claimId = (value: unknown) => (typeof value === 'string' ? value.slice(0, 255) : null);
  const row = (index: number, claim: unknown, output: Record<string, unknown> | null, status: 'pending' | 'skipped', error: string | null) =>
    Object.assign(new ExportRunRowEntity(), { export_run_id: run.id, index, organization_id: orgId, claim_id: claimId(claim), output, status, external_id: null, error });
  return [
    ...run.result.rows.map((r) => row(r.index, r.claim_id, r.output, 'pending', null)),
    ...run.result.skipped.map((r) => row(r.index, r.claim_id, null, 'skipped', r.reason)),
  ].sort((a, b) => a.index - b.index);
}

function toSummary(run: Omit<ExportRunEntity, 'result'>): ExportRunSummaryResponse {
  return {
    id: run.id,
    integration_id: run.integration_id,
    status: run.status,
    started_at: run.started_at.toISOString(),
    finished_at: run.finished_at.toISOString(),
    row_count: run.row_count,
    skipped_count: run.skipped_count,
    // jsonb answers {version, mapping_id}: back in the order POST answered.
    mappings_used: run.mappings_used.map((m) => ({ mapping_id: m.mapping_id, version: m.version })),
    created_by: run.created_by,
    delivery:
      run.status === 'completed'
        ? null
        : {
            attempts: run.delivery_attempts,
            delivered_count: run.delivered_count,
            failed_count: run.failed_count,
            next_attempt_at: run.next_attempt_at?.toISOString() ?? null,
            last_error: run.last_error,
          },
  };
}

function toRunResponse(run: ExportRunEntity): ExportRunResponse {
  return { ...toSummary(run), rows: run.result.rows, skipped: run.result.skipped, warnings: run.result.warnings };
}
