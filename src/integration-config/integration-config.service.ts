import { randomUUID } from 'node:crypto';
import { newWebhookSecret } from '../webhooks/signatures';
import { Injectable, Logger } from '@nestjs/common';
import { changedFieldNames, configResource } from '../audit/audit-actions';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { assertIfMatch } from '../common/if-match';
import { mapPage, type PageQueryDto } from '../common/pagination';
import { foundOr404, RuleViolation } from '../common/rule-violation';
import { PageCursors } from '../crypto/page-cursors';
import { SecretCipher, SecretDecryptionError } from '../crypto/secret-cipher';
import { scrubSyncError } from './sync-error';
import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';
import type { CreateIntegrationConfigDto, UpdateIntegrationConfigDto } from './dto/integration-config-request.dto';
import type { IntegrationConfigResponse } from './dto/integration-config-response.dto';
import type { RecordSyncRunDto, SyncRunListResponse, SyncRunResponse } from './dto/sync-run.dto';
import { FieldMappingService } from '../field-mapping/field-mapping.service';
import type { Transaction } from '../database/transaction';
import { TransactionRunner } from '../database/transaction';
import { configSecretLocation, IntegrationConfigEntity, SECRET_COLUMNS, type SecretColumn } from './integration-config.entity';
import { changedColumns, IntegrationConfigRepository } from './integration-config.repository';
import { SyncRunRepository } from './sync-run.repository';
import { ExportRunRepository } from '../export-runs/export-run.repository';
import { JobQueue } from '../job-queue/job-queue';
import { toConfigResponse, toSyncRunResponse } from './integration-config.mapper';
import { extraConfigErrors, missingForEnable, secretsToGiveForNewBaseUrl, syncTimeZoneErrors, webhookSecretMissing } from './integration-config.rules';
import { SyncRunEntity } from './sync-run.entity';
import { driverErrorOf } from '../database/driver-error';

const CONFIG = 'Integration config';
export const ORG_TYPE_UNIQUE_INDEX = 'idx_integration_configs_org_type';
/** After a rotation the previous webhook secret keeps verifying this long. */
export const WEBHOOK_SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

/** Secrets a request may write, and the column that holds each. */
const WRITABLE_SECRETS = { api_key: 'api_key_encrypted', client_secret: 'client_secret_encrypted', webhook_secret: 'webhook_secret_encrypted' } as const;
/** The plain fields a write may change, as the audit trail names them. */
const AUDITED_FIELDS = [
  'display_name',
  'enabled',
  'paused',
  'base_url',
  'client_id',
  'tenant_id',
  'accounting_code_mappings',
  'sync_frequency',
  'webhook_url',
  'extra_config',
] as const;

/** What a sync run changes of its config. */
const SYNC_STATUS_FIELDS = ['last_sync_at', 'last_sync_status', 'last_sync_error', 'last_success_at'] as const;

/** Integration configs of an organization, their secrets and their sync history. */
@Injectable()
export class IntegrationConfigService {
  private readonly logger = new Logger('IntegrationConfig');

  constructor(
    private readonly configs: IntegrationConfigRepository,
    private readonly syncRuns: SyncRunRepository,
    private readonly exportRuns: ExportRunRepository,
    private readonly jobs: JobQueue,
    private readonly transactions: TransactionRunner,
    private readonly fieldMappings: FieldMappingService,
    private readonly cipher: SecretCipher,
    private readonly registry: IntegrationTypeRegistry,
    private readonly audit: AuditService,
    private readonly cursors: PageCursors,
  ) {}

  async list(orgId: string): Promise<IntegrationConfigResponse[]> {
    const configs = await this.configs.listByOrg(orgId);
    const views = await this.fieldMappings.views(
      orgId,
      configs.map((c) => c.id),
    );
    return configs.map((c) => toConfigResponse(c, views.get(c.id) ?? {}));
  }

  async get(orgId: string, id: string): Promise<IntegrationConfigResponse> {
    return this.respond(orgId, foundOr404(await this.configs.findResponseByOrgAndId(orgId, id), CONFIG));
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
      older_webhook_secret_encrypted: null,
      older_webhook_secret_expires_at: null,
      extra_config: dto.extra_config ?? {},
      created_by: actor.sub,
      updated_by: null,
    });
    const changedSecrets = this.applySecrets(row, dto);
    this.assertStateRules(row);

    try {
      const created = await this.transactions.run(async (tx) => {
        const configs = this.configs.in(tx);
        const existing = await configs.findIdByOrgAndType(orgId, row.integration_type);
        if (existing) throw this.duplicateType(row.integration_type, existing);
        await configs.insert(row);
        if (dto.field_mappings) await this.fieldMappings.applyShorthand(orgId, row, dto.field_mappings, tx, actor);
        const fields = [
          ...AUDITED_FIELDS.filter((field) => field in dto && dto[field as keyof CreateIntegrationConfigDto] !== undefined),
          ...changedSecrets,
          ...(dto.field_mappings ? ['field_mappings'] : []),
        ];
        await this.audit.record(
          { orgId, actor, action: 'integration_config.created', resource: configResource(id), changedFields: fields, details: { integration_type: row.integration_type } },
          tx,
        );
        return this.respond(orgId, foundOr404(await configs.findByOrgAndId(orgId, id), CONFIG), tx);
      });
      this.auditCredentials('created', orgId, id, changedSecrets, actor);
      return created;
    } catch (error) {
      // Two concurrent creates: the unique index refused the second; name the winner.
      if (isUniqueViolation(error, ORG_TYPE_UNIQUE_INDEX)) {
        throw this.duplicateType(row.integration_type, (await this.configs.findIdByOrgAndType(orgId, row.integration_type)) ?? undefined);
      }
      throw error;
    }
  }

  async update(orgId: string, id: string, dto: UpdateIntegrationConfigDto, actor: Principal, ifMatch?: string): Promise<IntegrationConfigResponse> {
    let changedSecrets: string[] = [];
    let rescheduled = false;
    const updated = await this.transactions.run(async (tx) => {
      const current = await this.lockConfig(orgId, id, tx);
      assertIfMatch(ifMatch, current.revision);
      const next: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), current);
      if (dto.display_name !== undefined) next.display_name = dto.display_name.trim();
      if (dto.enabled !== undefined) next.enabled = dto.enabled;
      if (dto.base_url !== undefined) {
        const resend = secretsToGiveForNewBaseUrl(current, dto.base_url, dto);
        if (resend.length > 0)
          throw new RuleViolation(
            'credentials_required_for_new_base_url',
            `A base_url on another origin needs the credentials again: ${resend.map((e) => e.field).join(', ')}.`,
            resend,
          );
        next.base_url = dto.base_url;
      }
      if (dto.client_id !== undefined) next.client_id = dto.client_id?.trim() ?? null;
      if (dto.tenant_id !== undefined) next.tenant_id = dto.tenant_id?.trim() ?? null;
      if (dto.accounting_code_mappings !== undefined) next.accounting_code_mappings = dto.accounting_code_mappings ?? {};
      if (dto.sync_frequency !== undefined) next.sync_frequency = dto.sync_frequency;
      if (dto.webhook_url !== undefined) next.webhook_url = dto.webhook_url;
      if (dto.extra_config !== undefined) next.extra_config = dto.extra_config ?? {};
      if (dto.paused !== undefined && dto.paused !== current.paused) {
        next.paused = dto.paused;
        next.paused_at = dto.paused ? new Date() : null;
        // An admin resuming has acted on the failures: they count afresh.
        if (!dto.paused) next.consecutive_failures = 0;
      }
      changedSecrets = this.applySecrets(next, dto);
      if (dto.webhook_secret !== undefined) {
        // Setting or clearing the secret directly ends any rotation overlap: the old one may be why.
        next.previous_webhook_secret_encrypted = null;
        next.previous_webhook_secret_expires_at = null;
        next.older_webhook_secret_encrypted = null;
        next.older_webhook_secret_expires_at = null;
      }
      this.assertStateRules(next, dto.extra_config !== undefined);
      // A PATCH that changes nothing (the values it already has): no new revision, so no client's ETag goes stale, and nothing to audit.
      if (changedSecrets.length === 0 && !dto.field_mappings && Object.keys(changedColumns(current, next)).length === 0) return this.respond(orgId, current, tx);

      await this.writeRevision(orgId, current, next, actor.sub, tx);
      if (dto.field_mappings) await this.fieldMappings.applyShorthand(orgId, next, dto.field_mappings, tx, actor);
      const fields = [...changedFieldNames(current, next, AUDITED_FIELDS), ...changedSecrets, ...(dto.field_mappings ? ['field_mappings'] : [])];
      await this.audit.record({ orgId, actor, action: 'integration_config.updated', resource: configResource(id), changedFields: fields }, tx);
      // Enabled or resumed again, or on another schedule: its waiting runs go by the schedule it has now.
      const scheduleChanged = next.sync_frequency !== current.sync_frequency || next.extra_config['sync_time_zone'] !== current.extra_config['sync_time_zone'];
      if (next.enabled && !next.paused && (!current.enabled || current.paused || scheduleChanged)) {
        const waiting = await this.exportRuns.in(tx).waitingRuns(orgId, id);
        if (waiting.count > 0) await this.jobs.rescheduleDelivery(next, waiting.retry_at, tx);
        rescheduled = waiting.count > 0;
      }
      return this.respond(orgId, foundOr404(await this.configs.in(tx).findByOrgAndId(orgId, id), CONFIG), tx);
    });
    if (rescheduled) this.jobs.wakeDeliveryWorkers();
    this.auditCredentials('updated', orgId, id, changedSecrets, actor);
    return updated;
  }

  async remove(orgId: string, id: string, actor: Principal, ifMatch?: string): Promise<void> {
    await this.transactions.run(async (tx) => {
      const current = await this.lockConfig(orgId, id, tx);
      assertIfMatch(ifMatch, current.revision);
      await this.configs.in(tx).deleteByOrgAndId(orgId, id);
      await this.audit.record({ orgId, actor, action: 'integration_config.deleted', resource: configResource(id), details: { integration_type: current.integration_type } }, tx);
    });
    this.logger.log({ event: 'integration_config_deleted', org_id: orgId, config_id: id, actor: actor.sub, req: actor.request });
  }

  /**
   * A fresh `whsec_` secret, shown once; the previous one keeps verifying for 24 hours. A rotation
   * within those 24 hours (a retry whose answer was lost, say) keeps the one before it too, until
   * its own 24 hours end: the sender may still sign with it. Two replaced secrets at most: while
   * the oldest is valid it stays (however many retries were lost, the sender still holds it), and
   * the newer replaced one gives way.
   */
  async rotateWebhookSecret(orgId: string, id: string, actor: Principal): Promise<string> {
    const secret = newWebhookSecret();
    await this.transactions.run(async (tx) => {
      const current = await this.lockConfig(orgId, id, tx);
      const next: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), current);
      if (current.webhook_secret_encrypted) {
        const valid = (expiresAt: Date | null) => expiresAt !== null && expiresAt.getTime() > Date.now();
        if (!valid(current.older_webhook_secret_expires_at)) {
          const keep = current.previous_webhook_secret_encrypted !== null && valid(current.previous_webhook_secret_expires_at);
          next.older_webhook_secret_encrypted = keep
            ? this.movedIfReadable(orgId, id, current.previous_webhook_secret_encrypted!, 'previous_webhook_secret_encrypted', 'older_webhook_secret_encrypted')
            : null;
          next.older_webhook_secret_expires_at = next.older_webhook_secret_encrypted ? current.previous_webhook_secret_expires_at : null;
        }
        next.previous_webhook_secret_encrypted = this.movedIfReadable(orgId, id, current.webhook_secret_encrypted, 'webhook_secret_encrypted', 'previous_webhook_secret_encrypted');
        next.previous_webhook_secret_expires_at = next.previous_webhook_secret_encrypted ? new Date(Date.now() + WEBHOOK_SECRET_OVERLAP_MS) : null;
      }
      next.webhook_secret_encrypted = this.cipher.encrypt(secret, configSecretLocation(id, 'webhook_secret_encrypted'));
      await this.writeRevision(orgId, current, next, actor.sub, tx);
      await this.audit.record({ orgId, actor, action: 'integration_config.webhook_secret_rotated', resource: configResource(id), changedFields: ['webhook_secret'] }, tx);
    });
    this.auditCredentials('rotated', orgId, id, ['webhook_secret'], actor);
    return secret;
  }

  async recordSyncRun(orgId: string, id: string, dto: RecordSyncRunDto, actor: Principal): Promise<SyncRunResponse> {
    // Read back in the transaction: an answer that fails rolls the run back, so a retry with its Idempotency-Key records it once.
    return this.transactions.run(async (tx) => {
      const runId = await this.writeSyncRun(orgId, id, dto, actor, undefined, tx);
      return toSyncRunResponse(foundOr404(await this.syncRuns.in(tx).findByOrgAndId(orgId, runId), 'Sync run'));
    });
  }

  /**
   * The delivery engine's attempt, as a sync run: recorded also when the config was disabled
   * meanwhile (the attempt began while it was enabled; its outcome still counts), and the
   * config's failed attempts in a row counted (`countsTowardPause`: not one stopped on purpose;
   * `reachable`: every row answered, refused or not, which ends a streak like a success):
   * the `pauseAfter`-th pauses its deliveries until an admin resumes them, and `onPaused` runs in
   * the same transaction (the alert that says so commits with the pause). `dto.error` comes
   * scrubbed: the engine scrubs what an external system wrote when it reads it. Written in `tx`,
   * the engine's transaction on its lock's connection (the run's new state commits with it).
   */
  async recordDeliveryAttempt(
    orgId: string,
    id: string,
    dto: RecordSyncRunDto,
    actor: Principal,
    pause: { after: number; countsTowardPause: boolean; reachable: boolean; onPaused: (tx: Transaction, consecutiveFailures: number) => Promise<void> },
    tx: Transaction,
  ): Promise<void> {
    await this.writeSyncRun(orgId, id, dto, actor, pause, tx);
  }

  /** The new sync run's id. `pause` given: an attempt of the delivery engine. In `outerTx` when given, else in a transaction of its own. */
  private async writeSyncRun(
    orgId: string,
    id: string,
    dto: RecordSyncRunDto,
    actor: Principal,
    pause?: Parameters<IntegrationConfigService['recordDeliveryAttempt']>[4],
    outerTx?: Transaction,
  ): Promise<string> {
    const startedAt = new Date(dto.started_at);
    const finishedAt = dto.finished_at ? new Date(dto.finished_at) : new Date();
    if (finishedAt < startedAt) {
      throw RuleViolation.validation([{ field: 'finished_at', rule: 'finished_at_not_before_started_at', message: 'finished_at must not be before started_at' }]);
    }
    const write = async (tx: Transaction): Promise<string> => {
      const config = await this.lockConfig(orgId, id, tx);
      if (!config.enabled && !pause) {
        throw new RuleViolation('disabled_integration_must_not_sync', 'This integration is disabled: sync services must skip it entirely.');
      }
      const run = Object.assign(new SyncRunEntity(), {
        id: randomUUID(),
        organization_id: orgId,
        integration_id: id,
        status: dto.status,
        started_at: startedAt,
        finished_at: finishedAt,
        // A sync service's error may quote the credentials it was given: stored and shown to every
        // reader, so scrubbed here (the engine's comes scrubbed).
        error: dto.error ? (pause ? dto.error : scrubSyncError(dto.error, await this.organizationSecrets(orgId, tx))) : null,
        records_pushed: dto.records_pushed ?? 0,
        records_pulled: dto.records_pulled ?? 0,
        recorded_by: actor.sub,
      });
      const syncRuns = this.syncRuns.in(tx);
      await syncRuns.insert(run);
      // sync_status_updated_after_every_attempt: in the same transaction as the run.
      const next: IntegrationConfigEntity = Object.assign(new IntegrationConfigEntity(), config, {
        last_sync_at: finishedAt,
        last_sync_status: dto.status,
        last_sync_error: dto.status === 'success' ? null : run.error,
        last_success_at: dto.status === 'success' ? finishedAt : config.last_success_at,
      });
      // Only the engine's attempts count: a sync service's own reports are its business. An attempt
      // that delivered anything (partial), or had every row answered (refusals are the data's
      // fault, not the connection's: pausing would hold up the valid claims after them), shows the
      // system reachable: the count starts afresh.
      if (pause?.countsTowardPause) next.consecutive_failures = dto.status === 'failed' && !pause.reachable ? config.consecutive_failures + 1 : 0;
      const pausedNow = pause !== undefined && pause.after > 0 && !config.paused && next.consecutive_failures >= pause.after;
      if (pausedNow) {
        Object.assign(next, { paused: true, paused_at: finishedAt });
        const details = { consecutive_failures: next.consecutive_failures };
        await this.audit.record({ orgId, actor: null, action: 'integration_config.paused', resource: configResource(id), changedFields: ['paused'], details }, tx);
      }
      await this.writeRevision(orgId, config, next, config.updated_by, tx);
      // A sync attempt reported through the API changes what the config shows (last_sync_*, its
      // revision), and any organization's by a sync service: who did is in the trail. The engine's
      // own attempts are its runs' history (and a pause it causes is recorded above).
      if (!pause) {
        const changedFields = changedFieldNames(config, next, SYNC_STATUS_FIELDS);
        const resource = { type: 'sync_run' as const, id: run.id, integrationId: id };
        await this.audit.record({ orgId, actor, action: 'sync_run.recorded', resource, changedFields, details: { status: dto.status } }, tx);
      }
      if (pausedNow) await pause.onPaused(tx, next.consecutive_failures);
      return run.id;
    };
    return outerTx ? write(outerTx) : this.transactions.run(write);
  }

  async listSyncRuns(orgId: string, id: string, page: PageQueryDto): Promise<SyncRunListResponse> {
    foundOr404(await this.configs.findByOrgAndId(orgId, id), CONFIG);
    return mapPage(await this.cursors.page(orgId, `sync_runs:${id}`, {}, page, (keyset) => this.syncRuns.listPage(orgId, id, keyset)), toSyncRunResponse);
  }

  // --- internals ---

  /** The config's row, locked for the rest of the transaction, or 404. */
  private async lockConfig(orgId: string, id: string, tx: Transaction): Promise<IntegrationConfigEntity> {
    return foundOr404(await this.configs.in(tx).findByOrgAndId(orgId, id, { lock: true }), CONFIG);
  }

  private async respond(orgId: string, config: IntegrationConfigEntity, tx?: Transaction): Promise<IntegrationConfigResponse> {
    const views = await this.fieldMappings.views(orgId, [config.id], tx);
    return toConfigResponse(config, views.get(config.id) ?? {});
  }

  /**
   * Scrubs text an external system wrote (row refusals, failed attempts, connection tests) of every
   * secret of the organization, in any encoding; the secrets are read (and decrypted) once, on
   * first use: one scrubber per delivery attempt or test. `inUse`: the credentials it sent,
   * scrubbed even if the stored ones were rotated meanwhile (a host application's connector may
   * not scrub its own). `tx`: the connection to read them on (a delivery attempt's lock).
   */
  secretScrubber(orgId: string, inUse: readonly (string | null)[] = [], tx?: Transaction): (texts: string[]) => Promise<string[]> {
    let secrets: Promise<string[]> | undefined;
    return async (texts) => {
      if (texts.length === 0) return [];
      const known = [...(await (secrets ??= this.organizationSecrets(orgId, tx))), ...inUse.filter((s): s is string => s !== null)];
      return texts.map((text) => scrubSyncError(text, known));
    };
  }

  /**
   * Every secret the organization holds, only to scrub them from text that will be stored: an upstream
   * may quote another config's key too. One no key opens (a bad restore, a key removed too soon) is
   * passed over and logged: it cannot have been sent, and must not fail every other config's writes.
   */
  private async organizationSecrets(orgId: string, tx?: Transaction): Promise<string[]> {
    const configs = await (tx ? this.configs.in(tx) : this.configs).listSecretsByOrg(orgId);
    const secrets: string[] = [];
    for (const config of configs) {
      for (const column of SECRET_COLUMNS) {
        const envelope = config[column];
        const secret = envelope ? this.readableSecret(orgId, config.id, column, envelope) : null;
        if (secret !== null) secrets.push(secret);
      }
    }
    return secrets;
  }

  /**
   * A secret moved to another column: the AAD names the column, so it is encrypted anew for its new
   * place. One no key opens (a bad restore, a key removed too soon) verifies nothing: it is dropped
   * and logged, so that a rotation, the way out of it, is not refused with a 500.
   */
  private movedIfReadable(orgId: string, rowId: string, envelope: string, from: SecretColumn, to: SecretColumn): string | null {
    const secret = this.readableSecret(orgId, rowId, from, envelope);
    return secret === null ? null : this.cipher.encrypt(secret, configSecretLocation(rowId, to));
  }

  /** The secret in `column` of config `configId`; null, logged (never the value), when no key of the keyring opens it. */
  private readableSecret(orgId: string, configId: string, column: SecretColumn, envelope: string): string | null {
    try {
      return this.cipher.decrypt(envelope, configSecretLocation(configId, column));
    } catch (error) {
      if (!(error instanceof SecretDecryptionError)) throw error;
      this.logger.warn({ event: 'secret_unreadable', org_id: orgId, config_id: configId, column, reason: error.reason, key_id: error.keyId ?? null });
      return null;
    }
  }

  /** Encrypts (or clears) the secrets a request sends; returns the names that changed. */
  private applySecrets(row: IntegrationConfigEntity, dto: Partial<Record<keyof typeof WRITABLE_SECRETS, string | null>>): string[] {
    const changed: string[] = [];
    for (const [field, column] of Object.entries(WRITABLE_SECRETS) as [keyof typeof WRITABLE_SECRETS, SecretColumn][]) {
      const value = dto[field];
      if (value === undefined) continue;
      row[column] = value === null ? null : this.cipher.encrypt(value, configSecretLocation(row.id, column));
      changed.push(field);
    }
    return changed;
  }

  /**
   * The rules about the state a write would leave; all of one kind reported at once. The schedule's
   * zone only when extra_config is written: one stored before the rule (counted as UTC) must not
   * block every other change, a disabling among them.
   */
  private assertStateRules(state: IntegrationConfigEntity, extraConfigWritten = true): void {
    const zone = extraConfigWritten ? syncTimeZoneErrors(state.extra_config ?? {}) : [];
    if (zone.length > 0) throw RuleViolation.validation(zone);
    const names = extraConfigErrors(state.integration_type, state.extra_config ?? {});
    if (names.length > 0)
      throw new RuleViolation('dataverse_names_must_be_schema_names', 'extra_config names what the connector writes to: each must be a plain Dataverse name.', names);
    if (state.enabled) {
      const missing = missingForEnable(this.registry.get(state.integration_type), state);
      if (missing.length > 0) {
        throw new RuleViolation('credentials_required_before_enable', `An enabled integration needs: ${missing.map((m) => m.field).join(', ')}.`, missing);
      }
    }
    const webhook = webhookSecretMissing(state);
    if (webhook.length > 0) throw new RuleViolation('webhook_secret_required_for_inbound_webhooks', 'webhook_url needs a webhook secret.', webhook);
  }

  /** Writes the changed columns and bumps the revision; 412 when the row changed since it was read. */
  private async writeRevision(orgId: string, current: IntegrationConfigEntity, next: IntegrationConfigEntity, actor: string | null, tx: Transaction): Promise<void> {
    if (!(await this.configs.in(tx).updateRevision(orgId, current, next, actor))) {
      throw new RuleViolation('precondition_failed', 'The config changed while this request was processed: read it again and retry.');
    }
  }

  private duplicateType(type: string, existingId: string | undefined): RuleViolation {
    return new RuleViolation(
      'one_config_per_integration_type_per_org',
      `This organization already has a ${type} config${existingId ? ` (id ${existingId}): PATCH it instead` : ''}.`,
      [{ field: 'integration_type', rule: 'one_config_per_integration_type_per_org', message: `a ${type} config already exists${existingId ? `: ${existingId}` : ''}` }],
    );
  }

  /** Credential changes are audited: who, which organization, which config, which fields; never values. */
  private auditCredentials(action: string, orgId: string, configId: string, fields: string[], actor: Principal): void {
    if (fields.length === 0) return;
    this.logger.log({ event: 'credential_change', action, org_id: orgId, config_id: configId, fields, actor: actor.sub, role: actor.role, req: actor.request });
  }
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const driverError = driverErrorOf(error);
  return driverError?.code === '23505' && driverError.constraint === constraint;
}
