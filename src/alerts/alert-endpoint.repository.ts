import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectMeanderDataSource } from '../database/database.module';
import { envelopeKeyIdSql } from '../crypto/secret-cipher';
import { TableRepository } from '../database/table-repository';
import { AlertEndpointEntity } from './alert-endpoint.entity';

const SECRET_KEY_ID = envelopeKeyIdSql('signing_secret_encrypted');

/** alert_endpoints: every statement on the table has the organization first, but the key rotation's (the keyring is the service's). */
@Injectable()
export class AlertEndpointRepository extends TableRepository {
  constructor(@InjectMeanderDataSource() dataSource: DataSource) {
    super(dataSource.manager);
  }

  listByOrg(orgId: string): Promise<AlertEndpointEntity[]> {
    return this.repository(AlertEndpointEntity).find({ where: { organization_id: orgId }, order: { seq: 'ASC' } });
  }

  findByOrgAndId(orgId: string, id: string): Promise<AlertEndpointEntity | null> {
    return this.repository(AlertEndpointEntity).findOneBy({ organization_id: orgId, id });
  }

  /**
   * How many endpoints the organization has, its creates queued behind one another until the
   * transaction ends (a transaction-scoped advisory lock on the organization: row locks would not
   * hold back a second create while the first one's row is not yet visible).
   */
  async countByOrgLocked(orgId: string): Promise<number> {
    await this.rows(`SELECT pg_advisory_xact_lock(hashtextextended('alert_endpoints:' || $1, 0))`, [orgId]);
    const [{ n }] = await this.rows<{ n: number }>(`SELECT count(*)::int AS n FROM alert_endpoints WHERE organization_id = $1`, [orgId]);
    return n;
  }

  async insert(endpoint: AlertEndpointEntity): Promise<void> {
    await this.insertRows(AlertEndpointEntity, endpoint);
  }

  async updateSecret(orgId: string, id: string, envelope: string): Promise<boolean> {
    return (await this.updateRows(AlertEndpointEntity, { organization_id: orgId, id }, { signing_secret_encrypted: envelope })) === 1;
  }

  // --- key rotation (every organization: the keyring is the service's, not a tenant's) ---

  /** How many signing secrets use each key id. */
  async countSecretsByKey(): Promise<Record<string, number>> {
    const rows = await this.rows<{ kid: string; n: number }>(`SELECT ${SECRET_KEY_ID} AS kid, count(*)::int AS n FROM alert_endpoints GROUP BY 1 ORDER BY 1`, []);
    return Object.fromEntries(rows.map((r) => [r.kid, r.n]));
  }

  /** Endpoints whose secret is under another key, but the `except` ones (secrets no key opens). */
  async countRowsWithSecretNotUnder(keyId: string, except: readonly string[] = []): Promise<number> {
    const [{ n }] = await this.rows<{ n: number }>(`SELECT count(*)::int AS n FROM alert_endpoints WHERE ${SECRET_KEY_ID} <> $1 AND id <> ALL($2::uuid[])`, [keyId, except]);
    return n;
  }

  /** Up to `limit` endpoints whose secret is under another key, but the `except` ones, locked (SKIP LOCKED: one being written is taken later). */
  lockRowsWithSecretNotUnder(keyId: string, limit: number, except: readonly string[] = []): Promise<Pick<AlertEndpointEntity, 'id' | 'signing_secret_encrypted'>[]> {
    return this.rows(
      `SELECT id, signing_secret_encrypted FROM alert_endpoints WHERE ${SECRET_KEY_ID} <> $1 AND id <> ALL($3::uuid[]) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [keyId, limit, except],
    );
  }

  async updateSecretById(id: string, envelope: string): Promise<void> {
    await this.updateRows(AlertEndpointEntity, { id }, { signing_secret_encrypted: envelope });
  }

  async deleteByOrgAndId(orgId: string, id: string): Promise<boolean> {
    const result = await this.repository(AlertEndpointEntity).delete({ organization_id: orgId, id });
    return result.affected === 1;
  }
}
