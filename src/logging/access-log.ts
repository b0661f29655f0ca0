import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BaseLogger } from 'pino';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import { onEveryAnswer } from '../http/every-answer';
import { principalLogFields, requestLogFields } from './request-log';

type LoggedRequest = FastifyRequest & AuthenticatedRequest;

const READINESS_PROBE = 'meanderReadinessProbe';
/** The readiness probe's route: its 503 is the probe doing its job, logged as a warning (useAccessLog). */
export const ReadinessProbe = () => RouteConfig({ [READINESS_PROBE]: true });

/**
 * The access log as Fastify hooks: one line per request when its answer is sent (or when the
 * client went away first). nestjs-pino's own middleware did the same through @fastify/middie and
 * pino-http, at ~17 % of the service's CPU.
 *
 * No per-request logging context (nestjs-pino's AsyncLocalStorage): on Node 20 an active
 * AsyncLocalStorage runs a hook on every promise and tick of every request, ~8 % of a GET's CPU.
 * The lines logged while serving a request name it explicitly instead (`requestLogFields`: the
 * problem filter, and the audit lines through the actor, see CurrentPrincipal).
 */
export function useAccessLog(fastify: FastifyInstance, logger: BaseLogger): void {
  onEveryAnswer(fastify, (request: LoggedRequest, reply) => {
    const principal = request.principal;
    const line = {
      req: requestLogFields(request),
      res: reply.raw,
      responseTime: Math.round(reply.elapsedTime),
      ...(principal ? { principal: principalLogFields(principal) } : {}),
    };
    // The readiness probe's 503 is the probe doing its job (a drain on every deploy, the database away:
    // that is logged where it is found): a warning, not an error line that pages someone.
    if (reply.statusCode === 503 && (request.routeOptions?.config as unknown as Record<string, unknown> | undefined)?.[READINESS_PROBE] === true) logger.warn(line, 'not ready');
    else if (reply.statusCode >= 500) logger.error(line, 'request errored');
    else logger.info(line, 'request completed');
  });
  fastify.addHook('onRequestAbort', (request: LoggedRequest, done) => {
    logger.warn({ req: requestLogFields(request) }, 'request aborted');
    done();
  });
}
