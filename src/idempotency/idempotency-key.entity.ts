import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

export const IDEMPOTENCY_KEYS_TABLE = 'idempotency_keys';

/** The first answer to a POST sent with an Idempotency-Key (written by IdempotencyRepository's SQL). */
@Entity({ name: IDEMPOTENCY_KEYS_TABLE })
@Index('idx_idempotency_keys_created_at', ['created_at'])
@Check('chk_idempotency_keys_state', `state IN ('in_progress', 'completed')`)
export class IdempotencyKeyEntity {
  @PrimaryColumn('uuid', { primaryKeyConstraintName: 'pk_idempotency_keys' }) organization_id: string;
  @PrimaryColumn('text', { primaryKeyConstraintName: 'pk_idempotency_keys' }) principal_sub: string;
  @PrimaryColumn('varchar', { length: 255, primaryKeyConstraintName: 'pk_idempotency_keys' }) key: string;
  @Column('text') request_fingerprint: string;
  @Column('text') state: 'in_progress' | 'completed';
  @Column('integer', { nullable: true }) response_status: number | null;
  // The answer's JSON text as sent: jsonb would reorder its keys.
  @Column('text', { nullable: true }) response_body: string | null;
  @Column('text', { nullable: true }) response_etag: string | null;
  @Column('timestamptz', { default: () => 'now()' }) created_at: Date;
}
