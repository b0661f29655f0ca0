import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { NotRateLimited, Public } from '../auth/auth.decorators';
import { RuleViolation } from '../common/rule-violation';
import { ApiProblemResponses } from '../http/api-problem';
import { InjectMeanderDataSource } from '../database/database.module';

const READY_TIMEOUT_MS = 2000;

@ApiTags('Health')
@Public()
// Probes must never be refused: a flood elsewhere would otherwise get the pod restarted.
@NotRateLimited()
@Controller('health')
export class HealthController {
  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: the database answers' })
  @ApiOkResponse({ schema: { example: { status: 'ok', database: 'up' } } })
  @ApiProblemResponses({ status: 503, rules: ['service_unavailable'], description: 'The database does not answer within 2 s (problem+json)' })
  async ready() {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.dataSource.query('SELECT 1'), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS)))]);
    } catch {
      throw new RuleViolation('service_unavailable', 'The database is not reachable.');
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok', database: 'up' };
  }
}
