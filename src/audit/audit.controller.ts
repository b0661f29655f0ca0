import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators';
import { ValidQuery } from '../common/validation';
import { ApiProblemResponses } from '../http/api-problem';
import { BEARER_AUTH } from '../http/swagger';
import { ApiOrgIdParam, OrgId } from '../org-scope/org-id.decorator';
import { AuditService } from './audit.service';
import { AuditEventListResponse, AuditEventQueryDto } from './dto/audit-event.dto';

@ApiTags('Audit trail')
@ApiBearerAuth(BEARER_AUTH)
@ApiOrgIdParam()
@Controller('v1/organizations/:org_id/audit-events')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  // Read-only by design: there is no route that changes or deletes an audit event.
  @Get()
  @Roles('org_admin', 'global_admin')
  @ApiOperation({
    summary: "The organization's audit trail, newest first, paginated",
    description:
      'Every change to a config (credentials by field name, never value), its mappings and versions, webhook secret rotations, sync runs reported through the API, delivery requests, connection tests and refused requests (403). Append-only.',
  })
  @ApiOkResponse({ type: AuditEventListResponse })
  @ApiProblemResponses(
    {
      status: 400,
      rules: [
        'limit_within_bounds',
        'cursor_must_be_valid',
        'resource_id_must_be_uuid',
        'audit_action_must_be_known_value',
        'timestamp_must_be_iso8601',
        'time_range_must_be_ordered',
        'unknown_field',
      ],
    },
    401,
    { status: 403, rules: ['forbidden', 'org_scoped_access_only'] },
  )
  list(@OrgId() orgId: string, @ValidQuery() query: AuditEventQueryDto) {
    return this.audit.list(orgId, query);
  }
}
