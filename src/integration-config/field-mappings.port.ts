import type { EntityManager } from 'typeorm';
import type { IntegrationConfigEntity } from './integration-config.entity';

/**
 * What the config needs of field mappings: the `{source: target}` view of the active ones and
 * the shorthand write. The field-mapping module implements it and attaches itself at start-up,
 * so the dependency runs one way (field-mapping → integration-config) without forwardRef.
 */
export interface ConfigFieldMappingsPort {
  /** Active mappings of each config, `{source_field: target_field}`. */
  views(manager: EntityManager, orgId: string, integrationIds: string[]): Promise<Map<string, Record<string, string>>>;
  /** Applies `field_mappings` of a create/PATCH inside the caller's transaction. */
  applyShorthand(manager: EntityManager, orgId: string, config: IntegrationConfigEntity, shorthand: Record<string, string>, actor: string): Promise<void>;
}
