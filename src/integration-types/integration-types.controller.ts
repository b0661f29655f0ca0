import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { READ_ROLES, Roles } from '../auth/auth.decorators';
import { NoQuery } from '../common/validation';
import { ApiProblemResponses } from '../http/api-problem';
import { BEARER_AUTH } from '../http/swagger';
import { missingForEnable } from '../integration-config/integration-config.rules';
import { DERIVED_FROM, type IntegrationTypeDefinition } from './integration-type';
import { IntegrationTypeListResponse } from './integration-type-response.dto';
import { IntegrationTypeRegistry } from './integration-type.registry';

/** A config that holds everything enabling asks for but extra_config. */
const ALL_BUT_EXTRA_CONFIG: Parameters<typeof missingForEnable>[1] = {
  base_url: 'https://example.invalid',
  api_key_encrypted: 'set',
  client_id: 'set',
  client_secret_encrypted: 'set',
  tenant_id: 'set',
  extra_config: {},
};
const EXTRA_CONFIG_FIELD = 'extra_config.';

/**
 * The extra_config keys a config of this type needs before it can be enabled: what the rule
 * `credentials_required_before_enable` (integration-config.rules.ts, the one place that knows them)
 * finds missing in a config that holds everything else.
 */
function requiredExtraConfig(type: IntegrationTypeDefinition): string[] {
  return missingForEnable(type, ALL_BUT_EXTRA_CONFIG)
    .map((missing) => missing.field)
    .filter((field) => field.startsWith(EXTRA_CONFIG_FIELD))
    .map((field) => field.slice(EXTRA_CONFIG_FIELD.length));
}

@ApiTags('Integration types')
@ApiBearerAuth(BEARER_AUTH)
@Controller('v1/integration-types')
export class IntegrationTypesController {
  constructor(private readonly registry: IntegrationTypeRegistry) {}

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'The integration-type registry: credentials, required targets and the internal expense-claim schema' })
  @ApiOkResponse({ type: IntegrationTypeListResponse })
  @ApiProblemResponses({ status: 400, rules: ['unknown_field'] }, 401)
  list(@NoQuery() _query: object): IntegrationTypeListResponse {
    return {
      items: this.registry.list().map((t) => ({
        integration_type: t.integration_type,
        display_name: t.display_name,
        required_credentials: [...t.required_credentials],
        required_extra_config: requiredExtraConfig(t),
        required_target_fields: [...t.required_target_fields],
        source_fields: t.source_fields.map((f) => ({ name: f.name, type: f.type, non_null: f.non_null, path: f.path, derived_from: f.derived ? DERIVED_FROM[f.derived] : null })),
      })),
      next_cursor: null,
    };
  }
}
