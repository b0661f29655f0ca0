import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators';
import { RuleViolation } from '../common/rule-violation';
import { AppConfig } from '../config/app-config';
import { ApiProblemResponses } from '../http/api-problem';
import type { HttpReply, HttpRequest } from '../http/http-types';
import { METRICS_AUTH } from '../http/swagger';
import { carriesMetricsToken } from './metrics-token';
import { ServiceMetrics } from './service-metrics';

const METRICS_OFF = 'Not found: metrics are not enabled on this instance.';
const UNAUTHORIZED = 'The metrics token is required: Authorization: Bearer <METRICS_TOKEN>.';

/** Prometheus text exposition format 0.0.4, as prom-client writes it. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const DESCRIPTION = `The service's metrics for Prometheus (text format 0.0.4), names prefixed \`meander_\`: HTTP requests by method, route template and status, and their durations; delivery attempts by integration type and outcome; rows delivered and refused; the delivery queue's depth, scheduled jobs and oldest waiting job's age; token cache hits and misses; Node's process metrics.

Labels carry no organization, config or user id and no secret: a request is counted under its route template (\`/v1/organizations/:org_id/integrations/:id\`), never its URL, and one that matched no route under \`unmatched\`.

Off (404) unless \`METRICS_TOKEN\` is set; then \`Authorization: Bearer <METRICS_TOKEN>\` is required (401 otherwise, user JWTs included, whatever their role). Counted against the per-address budget of unauthenticated routes, which a scraper's interval is far below.`;

// Not a user route: @Public() takes it out of the JWT guard; it checks its own token.
@ApiTags('Metrics')
@Public()
@Controller('metrics')
export class MetricsController {
  private readonly token: string | undefined;

  constructor(
    private readonly metrics: ServiceMetrics,
    config: AppConfig,
  ) {
    this.token = config.metricsToken;
  }

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics (the metrics token, not a user token)', description: DESCRIPTION })
  @ApiSecurity(METRICS_AUTH)
  @ApiProduces(METRICS_CONTENT_TYPE)
  @ApiOkResponse({
    description: 'The metrics, in the Prometheus text exposition format 0.0.4',
    content: {
      [METRICS_CONTENT_TYPE]: {
        schema: { type: 'string', maxLength: 10_000_000 },
        example: '# TYPE meander_http_requests_total counter\nmeander_http_requests_total{method="GET",route="/v1/organizations/:org_id/integrations",status="200"} 42\n',
      },
    },
  })
  @ApiProblemResponses(
    {
      status: 401,
      rules: ['unauthorized'],
      description: 'No bearer credential, or not the metrics token (a user JWT is not one); `WWW-Authenticate: Bearer`',
      answers: { unauthorized: { detail: UNAUTHORIZED } },
    },
    { status: 404, rules: ['not_found'], description: 'Metrics are off: `METRICS_TOKEN` is not set', answers: { not_found: { detail: METRICS_OFF } } },
  )
  async scrape(@Req() request: HttpRequest, @Res({ passthrough: true }) reply: HttpReply): Promise<string> {
    if (this.token === undefined) throw new RuleViolation('not_found', METRICS_OFF);
    if (!carriesMetricsToken(request.headers.authorization, this.token)) {
      reply.header('WWW-Authenticate', 'Bearer realm="metrics"');
      throw RuleViolation.unauthorized(UNAUTHORIZED);
    }
    const text = await this.metrics.scrape();
    reply.header('Content-Type', METRICS_CONTENT_TYPE);
    return text;
  }
}
