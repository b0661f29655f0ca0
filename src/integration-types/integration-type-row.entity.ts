import { Check, Entity, PrimaryColumn } from 'typeorm';

/** The registry's type names, mirrored for the foreign key of integration_configs. */
@Entity({ name: 'integration_types' })
@Check('chk_integration_types_name', `integration_type ~ '^[a-z][a-z0-9_]{1,62}$'`)
export class IntegrationTypeRow {
  @PrimaryColumn('text') integration_type: string;
}
