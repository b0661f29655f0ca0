import { Check, Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import { IntegrationConfigEntity } from '../integration-config/integration-config.entity';

export const SIGNATURE_SCHEMES = ['standard_webhooks', 'xledger'] as const;
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];

/** One inbound delivery, stored exactly as received. */
@Entity({ name: 'webhook_events' })
// (organization_id, <parent>) → parent (organization_id, id): a row cannot name another organization's parent
// (migration 1763800000015). Declared with @ForeignKey, not a relation: nothing here loads one.
@ForeignKey(() => IntegrationConfigEntity, ['organization_id', 'integration_id'], ['organization_id', 'id'], { name: 'fk_webhook_events_integration', onDelete: 'CASCADE' })
@Index('idx_webhook_events_integration_webhook_id', ['integration_id', 'webhook_id'], { unique: true })
@Index('idx_webhook_events_integration_seq', { synchronize: false })
@Index('idx_webhook_events_received_at', { synchronize: false })
@Check('chk_webhook_events_scheme', `signature_scheme IN ('standard_webhooks', 'xledger')`)
export class WebhookEventEntity {
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS', insert: false, update: false }) seq: string;
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column('uuid') organization_id: string;
  @Column('uuid') integration_id: string;
  @Column('varchar', { length: 255 }) webhook_id: string;
  @Column('timestamptz', { default: () => 'now()' }) received_at: Date;
  @Column('text') signature_scheme: SignatureScheme;
  @Column('bytea') payload: Buffer;
  @Column('varchar', { length: 255, nullable: true }) content_type: string | null;
}
