import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource, QueryFailedError, type EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';
import { registerConstraintRule } from '../common/constraint-rules';
import { assertIfMatch } from '../common/if-match';
import { DEFAULT_PAGE_SIZE, seqCursorAfter, toPage, type PageQueryDto } from '../common/pagination';
import { RuleViolation } from '../common/rule-violation';
import { SecretCipher } from '../crypto/secret-cipher';
import { scrubSyncError } from './sync-error';
import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';
import type { CreateIntegrationConfigDto, UpdateIntegrationConfigDto } from './dto/integration-config-request.dto';
import type { IntegrationConfigResponse } from './dto/integration-config-response.dto';
import type { RecordSyncRunDto, SyncRunListResponse, SyncRunResponse } from './dto/sync-run.dto';
import type { ConfigFieldMappingsPort } from './field-mappings.port';
import { INTEGRATION_CONFIGS_TABLE, IntegrationConfigEntity, SECRET_COLUMNS, type SecretColumn } from './integration-config.entity';
import { toConfigResponse, toSyncRunResponse } from './integration-config.mapper';
import {
  CREDENTIALS_REQUIRED_BEFORE_ENABLE,
  DISABLED_MUST_NOT_SYNC,
  missingForEnable,
  ONE_CONFIG_PER_TYPE,
  WEBHOOK_SECRET_REQUIRED,
  webhookSecretMissing,
} from './integration-config.rules';
import { SyncRunEntity } from './sync-run.entity';
import { InjectMeanderDataSource } from '../database/database.module';
import { queryRows } from '../database/pool-query';

export const ORG_TYPE_UNIQUE_INDEX = 'idx_integration_configs_org_type';
/** After a rotation the previous webhook secret keeps verifying this long. */
export const WEBHOOK_SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

/**
 * What toConfigResponse reads. The ciphertexts only tell has_*; the previous webhook secret is
 * never needed for a response. Raw rows have the entity's types (pg parses timestamptz and jsonb).
 */
const RESPONSE_COLUMNS = [
  'id',
  'organization_id',
  'integration_type',
  'display_name',
  'enabled',
  'base_url',
  'api_key_encrypted',
  'client_id',
  'client_secret_encrypted',
  'tenant_id',
  'accounting_code_mappings',
  'sync_frequency',
  'last_sync_at',
  'last_sync_status',
  'last_sync_error',
  'last_success_at',
  'webhook_url',
  'webhook_secret_encrypted',
  'extra_config',
  'revision',
  'created_by',
  'updated_by',
  'created_at',
  'updated_at',
].join(', ');
// The read paths' SQL, exported so the raw benchmark baseline runs exactly the same statements.
export const CONFIGS_OF_ORG_SQL = `SELECT ${RESPONSE_COLUMNS} FROM ${INTEGRATION_CONFIGS_TABLE} WHERE organization_id = $1 ORDER BY created_at ASC, id ASC`;
export const CONFIG_BY_ID_SQL = `SELECT ${RESPONSE_COLUMNS} FROM ${INTEGRATION_CONFIGS_TABLE} WHERE organization_id = $1 AND id = $2`;

// Races that slip past the service checks still answer with the rule.
registerConstraintRule(ORG_TYPE_UNIQUE_INDEX, {
  rule: ONE_CONFIG_PER_TYPE,
  status: 409,
  field: 'integration_type',
  message: 'This organization already has a config of this integration type.',
});
registerConstraintRule('chk_integration_configs_webhook_secret_required', {
  rule: WEBHOOK_SECRET_REQUIRED,
  status: 422,
  field: 'webhook_secret',
  message: 'webhook_url needs a webhook secret.',
});
registerConstraintRule('fk_sync_runs_integration', { rule: 'not_found', status: 404, message: 'Integration config not found.' });

/** Secrets a request may write, and the column that holds each. */
const WRITABLE_SECRETS = { api_key: 'api_key_encrypted', client_secret: 'client_secret_encrypted', webhook_secret: 'webhook_secret_encrypted' } as const;

const NO_FIELD_MAPPINGS: ConfigFieldMappingsPort = {
  views: async () => new Map(),
  applyShorthand: async () => {
    throw new Error('field mappings are not available in this composition');
  },
};

/** Integration configs of an organization, their secrets and their sync history. */
@Injectable()
export class IntegrationConfigService {
  private readonly logger = new Logger('IntegrationConfig');
  private fieldMappings: ConfigFieldMappingsPort = NO_FIELD_MAPPINGS;

  constructor(
    @InjectMeanderDataSource() private readonly dataSource: DataSource,
    private readonly cipher: SecretCipher,
    private readonly registry: IntegrationTypeRegistry,
  ) {}

  /** Called once by the field-mapping module at start-up. */
  attachFieldMappings(port: ConfigFieldMappingsPort): void {
    this.fieldMappings = port;
  }

  async list(orgId: string): Promise<IntegrationConfigResponse[]> {
    // The read paths are plain SQL: entity hydration was most of their cost (npm run bench).
    const configs = await queryRows<IntegrationConfigEntity>(this.dataSource, CONFIGS_OF_ORG_SQL, [orgId]);
    const views = await this.fieldMappings.views(
      this.dataSource.manager,
      orgId,
      configs.map((c) => c.id),
    );
    return configs.map((c) => toConfigResponse(c, views.get(c.id) ?? {}));
  }

  async get(orgId: string, id: string): Promise<IntegrationConfigResponse> {
    const [config] = await queryRows<IntegrationConfigEntity>(this.dataSource, CONFIG_BY_ID_SQL, [orgId, id]);
    if (!config) throw RuleViolation.notFound('Integration config');
    return this.respond(this.dataSource.manager, config);
  }

  /** The config of `orgId` with this id, or 404 (also when it belongs to another organization). */
  async findOrFail(manager: EntityManager, orgId: string, id: string, lock = false): Promise<IntegrationConfigEntity> {
    const config = await manager.getRepository(IntegrationConfigEntity).findOne({
      where: { organization_id: orgId, id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!config) throw RuleViolation.notFound('Integration config');
    return config;
  }

  async create(orgId: string, dto: CreateIntegrationConfigDto, actor: Principal): Promise<IntegrationConfigResponse> {
    const id = randomUUID();
    const row: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), {
      id,
      organization_id: orgId,
      integration_type: dto.integration_type,
      display_name: dto.display_name.trim(),
      enabled: dto.enabled ?? false,
      base_url: dto.base_url ?? null,
      api_key_encrypted: null,
      client_id: dto.client_id?.trim() ?? null,
      client_secret_encrypted: null,
      tenant_id: dto.tenant_id?.trim() ?? null,
      accounting_code_mappings: dto.accounting_code_mappings ?? {},
      sync_frequency: dto.sync_frequency ?? 'manual',
      webhook_url: dto.webhook_url ?? null,
      webhook_secret_encrypted: null,
      previous_webhook_secret_encrypted: null,
      previous_webhook_secret_expires_at: null,
      extra_config: dto.extra_config ?? {},
      created_by: actor.sub,
      updated_by: null,
    });
    const changedSecrets = this.applySecrets(row, dto);
    this.assertStateRules(row);

    try {
      const created = await this.dataSource.transaction(async (manager) => {
        const existing = await manager.getRepository(IntegrationConfigEntity).findOne({
          where: { organization_id: orgId, integration_type: row.integration_type },
          select: { id: true },
        });
        if (existing) throw this.duplicateType(row.integration_type, existing.id);
        await manager.getRepository(IntegrationConfigEntity).insert(row as never);
        if (dto.field_mappings) await this.fieldMappings.applyShorthand(manager, orgId, row, dto.field_mappings, actor.sub);
        return this.respond(manager, await this.findOrFail(manager, orgId, id));
      });
      this.auditCredentials('created', orgId, id, changedSecrets, actor);
      return created;
    } catch (error) {
      // Two concurrent creates: the unique index refused the second; name the winner.
      if (isUniqueViolation(error, ORG_TYPE_UNIQUE_INDEX)) {
        const winner = await this.dataSource.getRepository(IntegrationConfigEntity).findOne({
          where: { organization_id: orgId, integration_type: row.integration_type },
          select: { id: true },
        });
        throw this.duplicateType(row.integration_type, winner?.id);
      }
      throw error;
    }
  }

  async update(orgId: string, id: string, dto: UpdateIntegrationConfigDto, actor: Principal, ifMatch?: string): Promise<IntegrationConfigResponse> {
    let changedSecrets: string[] = [];
    const updated = await this.dataSource.transaction(async (manager) => {
      const current = await this.findOrFail(manager, orgId, id, true);
      assertIfMatch(ifMatch, current.revision);
      const next: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), current);
      if (dto.display_name !== undefined) next.display_name = dto.display_name.trim();
      if (dto.enabled !== undefined) next.enabled = dto.enabled;
      if (dto.base_url !== undefined) next.base_url = dto.base_url;
      if (dto.client_id !== undefined) next.client_id = dto.client_id?.trim() ?? null;
      if (dto.tenant_id !== undefined) next.tenant_id = dto.tenant_id?.trim() ?? null;
      if (dto.accounting_code_mappings !== undefined) next.accounting_code_mappings = dto.accounting_code_mappings ?? {};
      if (dto.sync_frequency !== undefined) next.sync_frequency = dto.sync_frequency;
      if (dto.webhook_url !== undefined) next.webhook_url = dto.webhook_url;
      if (dto.extra_config !== undefined) next.extra_config = dto.extra_config ?? {};
      changedSecrets = this.applySecrets(next, dto);
      if (dto.webhook_secret !== undefined) {
        // Setting or clearing the secret directly ends any rotation overlap: the old one may be why.
        next.previous_webhook_secret_encrypted = null;
        next.previous_webhook_secret_expires_at = null;
      }
      this.assertStateRules(next);

      await this.writeRevision(manager, current, next, actor.sub);
      if (dto.field_mappings) await this.fieldMappings.applyShorthand(manager, orgId, next, dto.field_mappings, actor.sub);
      return this.respond(manager, await this.findOrFail(manager, orgId, id));
    });
    this.auditCredentials('updated', orgId, id, changedSecrets, actor);
    return updated;
  }

  async remove(orgId: string, id: string, actor: Principal, ifMatch?: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const current = await this.findOrFail(manager, orgId, id, true);
      assertIfMatch(ifMatch, current.revision);
      // Field mappings and sync runs go with it: ON DELETE CASCADE in the database.
      await manager.getRepository(IntegrationConfigEntity).delete({ organization_id: orgId, id });
    });
    this.logger.log({ event: 'integration_config_deleted', org_id: orgId, config_id: id, actor: actor.sub, req: actor.request });
  }

  /** A fresh `whsec_` secret, shown once; the previous one keeps verifying for 24 hours. */
  async rotateWebhookSecret(orgId: string, id: string, actor: Principal): Promise<string> {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    await this.dataSource.transaction(async (manager) => {
      const current = await this.findOrFail(manager, orgId, id, true);
      const next: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), current);
      if (current.webhook_secret_encrypted) {
        // The AAD names the column: the previous secret is re-encrypted for its new place.
        const previous = this.cipher.decrypt(current.webhook_secret_encrypted, this.location(id, 'webhook_secret_encrypted'));
        next.previous_webhook_secret_encrypted = this.cipher.encrypt(previous, this.location(id, 'previous_webhook_secret_encrypted'));
        next.previous_webhook_secret_expires_at = new Date(Date.now() + WEBHOOK_SECRET_OVERLAP_MS);
      }
      next.webhook_secret_encrypted = this.cipher.encrypt(secret, this.location(id, 'webhook_secret_encrypted'));
      await this.writeRevision(manager, current, next, actor.sub);
    });
    this.auditCredentials('rotated', orgId, id, ['webhook_secret'], actor);
    return secret;
  }

  async recordSyncRun(orgId: string, id: string, dto: RecordSyncRunDto, actor: Principal): Promise<SyncRunResponse> {
    const startedAt = new Date(dto.started_at);
    const finishedAt = dto.finished_at ? new Date(dto.finished_at) : new Date();
    if (finishedAt < startedAt) {
      throw RuleViolation.validation([{ field: 'finished_at', rule: 'finished_at_not_before_started_at', message: 'finished_at must not be before started_at' }]);
    }
    return this.dataSource.transaction(async (manager) => {
      const config = await this.findOrFail(manager, orgId, id, true);
      if (!config.enabled) {
        throw new RuleViolation(DISABLED_MUST_NOT_SYNC, 409, 'This integration is disabled: sync services must skip it entirely.');
      }
      const run = Object.assign(new SyncRunEntity(), {
        id: randomUUID(),
        organization_id: orgId,
        integration_id: id,
        status: dto.status,
        started_at: startedAt,
        finished_at: finishedAt,
        // Whoever reports it (a sync service over REST or runSyncAttempt), an upstream error may
        // quote the credentials it was given: stored and shown to every reader, so scrubbed here.
        error: dto.error ? scrubSyncError(dto.error, await this.organizationSecrets(manager, orgId)) : null,
        records_pushed: dto.records_pushed ?? 0,
        records_pulled: dto.records_pulled ?? 0,
        recorded_by: actor.sub,
      });
      await manager.getRepository(SyncRunEntity).insert(run as never);
      // sync_status_updated_after_every_attempt: in the same transaction as the run.
      const next: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), config, {
        last_sync_at: finishedAt,
        last_sync_status: dto.status,
        last_sync_error: dto.status === 'success' ? null : run.error,
        last_success_at: dto.status === 'success' ? finishedAt : config.last_success_at,
      });
      await this.writeRevision(manager, config, next, config.updated_by);
      const stored = await manager.getRepository(SyncRunEntity).findOneByOrFail({ organization_id: orgId, id: run.id });
      return toSyncRunResponse(stored);
    });
  }

  async listSyncRuns(orgId: string, id: string, page: PageQueryDto): Promise<SyncRunListResponse> {
    await this.findOrFail(this.dataSource.manager, orgId, id);
    const limit = page.limit ?? DEFAULT_PAGE_SIZE;
    const after = seqCursorAfter(page);
    const query = this.dataSource
      .getRepository(SyncRunEntity)
      .createQueryBuilder('run')
      .where('run.organization_id = :orgId AND run.integration_id = :id', { orgId, id })
      .orderBy('run.seq', 'DESC')
      .limit(limit + 1);
    if (after) query.andWhere('run.seq < :after', { after });
    return toPage(await query.getMany(), limit, toSyncRunResponse);
  }

  // --- internals ---

  private async respond(manager: EntityManager, config: IntegrationConfigEntity): Promise<IntegrationConfigResponse> {
    const views = await this.fieldMappings.views(manager, config.organization_id, [config.id]);
    return toConfigResponse(config, views.get(config.id) ?? {});
  }

  /** The config's plaintext secrets, only to scrub them from text that will be stored. */
  /** Every secret the organization holds: an upstream may quote another config's key too. */
  private async organizationSecrets(manager: EntityManager, orgId: string): Promise<string[]> {
    const select = Object.fromEntries([['id', true], ...SECRET_COLUMNS.map((column) => [column, true])]);
    const configs = await manager.getRepository(IntegrationConfigEntity).find({ where: { organization_id: orgId }, select });
    const secrets: string[] = [];
    for (const config of configs) {
      for (const column of SECRET_COLUMNS) {
        const envelope = config[column];
        if (envelope) secrets.push(this.cipher.decrypt(envelope, this.location(config.id, column)));
      }
    }
    return secrets;
  }

  private location(rowId: string, column: SecretColumn) {
    return { table: INTEGRATION_CONFIGS_TABLE, column, rowId };
  }

  /** Encrypts (or clears) the secrets a request sends; returns the names that changed. */
  private applySecrets(row: IntegrationConfigEntity, dto: Partial<Record<keyof typeof WRITABLE_SECRETS, string | null>>): string[] {
    const changed: string[] = [];
    for (const [field, column] of Object.entries(WRITABLE_SECRETS) as [keyof typeof WRITABLE_SECRETS, SecretColumn][]) {
      const value = dto[field];
      if (value === undefined) continue;
      row[column] = value === null ? null : this.cipher.encrypt(value, this.location(row.id, column));
      changed.push(field);
    }
    return changed;
  }

  /** The rules about the state a write would leave; all of one kind reported at once. */
  private assertStateRules(state: IntegrationConfigEntity): void {
    if (state.enabled) {
      const missing = missingForEnable(this.registry.get(state.integration_type), state);
      if (missing.length > 0) {
        throw new RuleViolation(CREDENTIALS_REQUIRED_BEFORE_ENABLE, 422, `An enabled integration needs: ${missing.map((m) => m.field).join(', ')}.`, missing);
      }
    }
    const webhook = webhookSecretMissing(state);
    if (webhook.length > 0) throw new RuleViolation(WEBHOOK_SECRET_REQUIRED, 422, 'webhook_url needs a webhook secret.', webhook);
  }

  /**
   * Writes the changed columns and bumps the revision, guarded by the revision that was read:
   * `UPDATE … WHERE id AND organization_id AND revision`, checked by the affected count.
   */
  private async writeRevision(manager: EntityManager, current: IntegrationConfigEntity, next: IntegrationConfigEntity, actor: string | null): Promise<void> {
    const changes: Partial<Record<keyof IntegrationConfigEntity, unknown>> = {};
    for (const key of Object.keys(next) as (keyof IntegrationConfigEntity)[]) {
      if (['id', 'organization_id', 'integration_type', 'revision', 'created_at', 'updated_at', 'created_by', 'updated_by'].includes(key)) continue;
      if (JSON.stringify(next[key]) !== JSON.stringify(current[key])) changes[key] = next[key];
    }
    const result = await manager
      .createQueryBuilder()
      .update(IntegrationConfigEntity)
      .set({ ...changes, updated_by: actor, revision: () => 'revision + 1', updated_at: () => 'now()' } as never)
      .where('id = :id AND organization_id = :orgId AND revision = :revision', { id: current.id, orgId: current.organization_id, revision: current.revision })
      .execute();
    if (result.affected !== 1) {
      throw new RuleViolation('precondition_failed', 412, 'The config changed while this request was processed: read it again and retry.');
    }
  }

  private duplicateType(type: string, existingId: string | undefined): RuleViolation {
    return new RuleViolation(ONE_CONFIG_PER_TYPE, 409, `This organization already has a ${type} config${existingId ? ` (id ${existingId}): PATCH it instead` : ''}.`, [
      { field: 'integration_type', rule: ONE_CONFIG_PER_TYPE, message: `a ${type} config already exists${existingId ? `: ${existingId}` : ''}` },
    ]);
  }

  /** Credential changes are audited: who, which organization, which config, which fields; never values. */
  private auditCredentials(action: string, orgId: string, configId: string, fields: string[], actor: Principal): void {
    if (fields.length === 0) return;
    this.logger.log({ event: 'credential_change', action, org_id: orgId, config_id: configId, fields, actor: actor.sub, role: actor.role, req: actor.request });
  }
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const driverError = error instanceof QueryFailedError ? (error.driverError as { code?: string; constraint?: string }) : undefined;
  return driverError?.code === '23505' && driverError.constraint === constraint;
}
