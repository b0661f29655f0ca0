import { Controller, Get, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { NotRateLimited, Public } from '../auth/auth.decorators';
import { RuleViolation } from '../common/rule-violation';
import { ApiProblemResponses } from '../http/api-problem';
import { InjectMeanderDataSource } from '../database/database.module';
import { ReadinessProbe } from '../logging/access-log';

const READY_TIMEOUT_MS = 2000;

@ApiTags('Health')
@Public()
// Probes must never be refused: a flood elsewhere would otherwise get the pod restarted.
@NotRateLimited()
@Controller('health')
export class HealthController implements OnModuleDestroy {
  private stopping = false;
  private readonly logger = new Logger('Health');

  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {}

  /**
   * The first of the shutdown hooks, before delivery attempts and alert sends drain (up to a
   * request's 30 s) and the listener closes: not ready from then on, so a load balancer stops
   * sending while the requests it already sent are still served.
   */
  onModuleDestroy(): void {
    this.stopping = true;
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @ReadinessProbe()
  @ApiOperation({ summary: 'Readiness: the database answers' })
  @ApiOkResponse({ schema: { example: { status: 'ok', database: 'up' } } })
  @ApiProblemResponses({ status: 503, rules: ['service_unavailable'], description: 'The database does not answer within 2 s, or the instance is shutting down (problem+json)' })
  async ready() {
    if (this.stopping) throw new RuleViolation('service_unavailable', 'The service is shutting down.');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.dataSource.query('SELECT 1'), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS)))]);
    } catch (error) {
      // The access log takes the probe's 503 for a warning (a drain is one too): the outage itself is the error.
      this.logger.error({ event: 'readiness_database_unreachable', code: (error as { code?: string }).code ?? (error as Error).message }, 'database not reachable');
      throw new RuleViolation('service_unavailable', 'The database is not reachable.');
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok', database: 'up' };
  }
}
