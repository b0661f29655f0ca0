import { Check, Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { ENVELOPE_SQL_PATTERN, type SecretLocation } from '../crypto/secret-cipher';

export const ALERT_ENDPOINTS_TABLE = 'alert_endpoints';

/** Where an endpoint's signing secret lives, as its envelope's AAD names it: the one place that says so. */
export function alertSecretLocation(rowId: string): SecretLocation {
  return { table: ALERT_ENDPOINTS_TABLE, column: 'signing_secret_encrypted', rowId };
}
const ENVELOPE = `'${ENVELOPE_SQL_PATTERN}'`;

/** An organization's receiver of failure alerts: https, signed with its own Standard Webhooks secret. */
@Entity({ name: ALERT_ENDPOINTS_TABLE })
@Unique('alert_endpoints_seq_key', ['seq'])
@Index('idx_alert_endpoints_org_seq', ['organization_id', 'seq'])
@Check('chk_alert_endpoints_url', `url ~ '^https://'`)
@Check('chk_alert_endpoints_secret_envelope', `signing_secret_encrypted ~ ${ENVELOPE}`)
export class AlertEndpointEntity {
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS', insert: false, update: false }) seq: string;
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column('uuid') organization_id: string;
  @Column('varchar', { length: 2048 }) url: string;
  @Column('varchar', { length: 200, nullable: true }) description: string | null;
  @Column('text') signing_secret_encrypted: string;
  @Column('uuid') created_by: string;
  @Column('timestamptz', { default: () => 'now()' }) created_at: Date;
}
