import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { changedFieldNames } from '../audit/audit-actions';
import { InjectMeanderDataSource } from '../database/database.module';
import { TableRepository } from '../database/table-repository';
import { envelopeKeyIdSql } from '../crypto/secret-cipher';
import { INTEGRATION_CONFIGS_TABLE, IntegrationConfigEntity, SECRET_COLUMNS, type SecretColumn } from './integration-config.entity';

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
  'paused',
  'paused_at',
  'revision',
  'created_by',
  'updated_by',
  'created_at',
  'updated_at',
].join(', ');

// The hot paths are plain SQL (entity hydration was most of their cost, npm run bench); the raw
// benchmark baseline imports these statements so both sides run exactly the same SQL.
export const CONFIGS_OF_ORG_SQL = `SELECT ${RESPONSE_COLUMNS} FROM ${INTEGRATION_CONFIGS_TABLE} WHERE organization_id = $1 ORDER BY created_at ASC, id ASC`;
export const CONFIG_BY_ID_SQL = `SELECT ${RESPONSE_COLUMNS} FROM ${INTEGRATION_CONFIGS_TABLE} WHERE organization_id = $1 AND id = $2`;
/** Only the columns verification needs; by id alone: an inbound webhook names no organization. */
export const WEBHOOK_CONFIG_SQL = `SELECT id, organization_id, integration_type, enabled, webhook_url, api_key_encrypted, webhook_secret_encrypted,
  previous_webhook_secret_encrypted, previous_webhook_secret_expires_at, older_webhook_secret_encrypted, older_webhook_secret_expires_at
  FROM ${INTEGRATION_CONFIGS_TABLE} WHERE id = $1`;

/** Rows with a value whose envelope does not name the key `$1`. */
// In parentheses: an AND after it must not bind to its last term only.
const NOT_UNDER_KEY = `(${SECRET_COLUMNS.map((c) => `(${c} IS NOT NULL AND ${envelopeKeyIdSql(c)} <> $1)`).join(' OR ')})`;

/** Columns the service never changes through writeRevision. */
const FIXED_COLUMNS = new Set<keyof IntegrationConfigEntity>(['id', 'organization_id', 'integration_type', 'revision', 'created_at', 'updated_at', 'created_by', 'updated_by']);

export type ConfigSecrets = Pick<IntegrationConfigEntity, 'id' | SecretColumn>;

/**
 * integration_configs: every statement on the table has the organization first, but the inbound
 * webhook's lookup by id (WEBHOOK_CONFIG_SQL) and the key rotation's statements (the keyring is
 * the service's), which serve no tenant's request.
 */
@Injectable()
export class IntegrationConfigRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  /** The response columns of the organization's configs, oldest first. */
  listByOrg(orgId: string): Promise<IntegrationConfigEntity[]> {
    return this.rows<IntegrationConfigEntity>(CONFIGS_OF_ORG_SQL, [orgId]);
  }

  /** The response columns of one config (no previous webhook secret). */
  async findResponseByOrgAndId(orgId: string, id: string): Promise<IntegrationConfigEntity | null> {
    const [config] = await this.rows<IntegrationConfigEntity>(CONFIG_BY_ID_SQL, [orgId, id]);
    return config ?? null;
  }

  /** The whole row; `lock`: FOR UPDATE, so writes to the config (and its mappings) queue up. */
  findByOrgAndId(orgId: string, id: string, options: { lock?: boolean } = {}): Promise<IntegrationConfigEntity | null> {
    return this.repository(IntegrationConfigEntity).findOne({
      where: { organization_id: orgId, id },
      ...(options.lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  async findIdByOrgAndType(orgId: string, integrationType: string): Promise<string | null> {
    const row = await this.repository(IntegrationConfigEntity).findOne({ where: { organization_id: orgId, integration_type: integrationType }, select: { id: true } });
    return row?.id ?? null;
  }

  /** What an inbound webhook's verification reads. */
  async findForWebhook(id: string): Promise<IntegrationConfigEntity | null> {
    const [config] = await this.rows<IntegrationConfigEntity>(WEBHOOK_CONFIG_SQL, [id]);
    return config ?? null;
  }

  /** Every stored secret of the organization's configs (to scrub them from text that is stored). */
  listSecretsByOrg(orgId: string): Promise<ConfigSecrets[]> {
    const select = Object.fromEntries([['id', true], ...SECRET_COLUMNS.map((column) => [column, true])]);
    return this.repository(IntegrationConfigEntity).find({ where: { organization_id: orgId }, select });
  }

  async insert(row: IntegrationConfigEntity): Promise<void> {
    await this.insertRows(IntegrationConfigEntity, row);
  }

  /**
   * Writes the columns that differ between `current` and `next` and bumps the revision, guarded
   * by the revision that was read: `UPDATE … WHERE organization_id AND id AND revision`. False
   * when another write came first.
   */
  async updateRevision(orgId: string, current: IntegrationConfigEntity, next: IntegrationConfigEntity, actor: string | null): Promise<boolean> {
    const changes = changedColumns(current, next) as QueryDeepPartialEntity<IntegrationConfigEntity>;
    const result = await this.repository(IntegrationConfigEntity)
      .createQueryBuilder()
      .update()
      .set({ ...changes, updated_by: actor, revision: () => 'revision + 1', updated_at: () => 'now()' })
      .where('organization_id = :orgId AND id = :id AND revision = :revision', { orgId, id: current.id, revision: current.revision })
      .execute();
    return result.affected === 1;
  }

  /**
   * The row locked for a change of what the config shows that the row does not hold (its field
   * mappings), with its new revision (so its ETag changes): one UPDATE takes the row lock and bumps
   * it. Null when there is no such config.
   */
  async lockForNewRevision(orgId: string, id: string, actor: string | null): Promise<IntegrationConfigEntity | null> {
    const [config] = await this.rows<IntegrationConfigEntity>(
      `UPDATE ${INTEGRATION_CONFIGS_TABLE} SET revision = revision + 1, updated_at = now(), updated_by = $3 WHERE organization_id = $1 AND id = $2 RETURNING *`,
      [orgId, id, actor],
    );
    return config ?? null;
  }

  async deleteByOrgAndId(orgId: string, id: string): Promise<void> {
    // Field mappings, sync runs, export runs and webhook events go with it: ON DELETE CASCADE.
    await this.repository(IntegrationConfigEntity).delete({ organization_id: orgId, id });
  }

  // --- key rotation (every organization: the keyring is the service's, not a tenant's) ---

  /** How many stored values use each key id. */
  async countSecretsByKey(): Promise<Record<string, number>> {
    const unions = SECRET_COLUMNS.map((c) => `SELECT ${envelopeKeyIdSql(c)} AS kid FROM ${INTEGRATION_CONFIGS_TABLE} WHERE ${c} IS NOT NULL`).join(' UNION ALL ');
    const rows = await this.rows<{ kid: string; n: number }>(`SELECT kid, count(*)::int AS n FROM (${unions}) v GROUP BY kid ORDER BY kid`, []);
    return Object.fromEntries(rows.map((r) => [r.kid, r.n]));
  }

  /** Rows with a value under another key, but the `except` ones (values no key opens). */
  async countRowsWithSecretsNotUnder(keyId: string, except: readonly string[] = []): Promise<number> {
    const [{ total }] = await this.rows<{ total: number }>(`SELECT count(*)::int AS total FROM ${INTEGRATION_CONFIGS_TABLE} WHERE ${NOT_UNDER_KEY} AND id <> ALL($2::uuid[])`, [
      keyId,
      except,
    ]);
    return total;
  }

  /** Up to `limit` rows with a value under another key, but the `except` ones, locked; SKIP LOCKED: a row being written is taken later. */
  lockRowsWithSecretsNotUnder(keyId: string, limit: number, except: readonly string[] = []): Promise<ConfigSecrets[]> {
    return this.rows<ConfigSecrets>(
      `SELECT id, ${SECRET_COLUMNS.join(', ')} FROM ${INTEGRATION_CONFIGS_TABLE} WHERE ${NOT_UNDER_KEY} AND id <> ALL($3::uuid[]) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [keyId, limit, except],
    );
  }

  /** New envelopes for some secret columns of a row: not a change of the config (no revision, no updated_at). */
  async updateSecretEnvelopes(id: string, envelopes: Partial<Record<SecretColumn, string>>): Promise<void> {
    const columns = Object.keys(envelopes) as SecretColumn[];
    if (columns.length === 0) return;
    const sets = columns.map((column, i) => `${column} = $${i + 2}`).join(', ');
    await this.rows(`UPDATE ${INTEGRATION_CONFIGS_TABLE} SET ${sets} WHERE id = $1`, [id, ...columns.map((c) => envelopes[c])]);
  }
}

/** The writable columns whose values differ between `current` and `next`, with `next`'s values. */
export function changedColumns(current: IntegrationConfigEntity, next: IntegrationConfigEntity): Partial<IntegrationConfigEntity> {
  const writable = (Object.keys(next) as (keyof IntegrationConfigEntity & string)[]).filter((key) => !FIXED_COLUMNS.has(key) && key !== 'type_row');
  // Deep equality, not JSON text: jsonb gives an object's keys back in its own order.
  return Object.fromEntries(changedFieldNames(current, next, writable).map((key) => [key, next[key as keyof IntegrationConfigEntity]])) as Partial<IntegrationConfigEntity>;
}
