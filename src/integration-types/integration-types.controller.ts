import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { READ_ROLES, Roles } from '../auth/auth.decorators';
import { NoQuery } from '../common/validation';
import { ApiProblemResponses } from '../http/api-problem';
import { BEARER_AUTH } from '../http/swagger';
import { requiredExtraConfig } from '../integration-config/integration-config.rules';
import { DERIVED_FROM } from './integration-type';
import { IntegrationTypeListResponse } from './integration-type-response.dto';
import { IntegrationTypeRegistry } from './integration-type.registry';

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
        required_extra_config: requiredExtraConfig(t.integration_type),
        required_target_fields: [...t.required_target_fields],
        source_fields: t.source_fields.map((f) => ({ name: f.name, type: f.type, non_null: f.non_null, path: f.path, derived_from: f.derived ? DERIVED_FROM[f.derived] : null })),
      })),
      next_cursor: null,
    };
  }
}
