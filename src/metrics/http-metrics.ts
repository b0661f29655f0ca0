import type { FastifyInstance, FastifyRequest } from 'fastify';
import { onEveryAnswer } from '../http/every-answer';
import type { ServiceMetrics } from './service-metrics';

/**
 * The route a request is counted under: the template it matched (`/v1/organizations/:org_id/…`),
 * never its URL, which carries organization and config ids; undefined when no route matched.
 */
export function routeTemplate(request: Pick<FastifyRequest, 'routeOptions' | 'is404'>): string | undefined {
  if (request.is404) return undefined;
  return request.routeOptions.url || undefined;
}

/** Counts every answered request, router refusals and 404s included, when its answer is sent. */
export function observeHttpRequests(fastify: FastifyInstance, metrics: ServiceMetrics): void {
  onEveryAnswer(fastify, (request, reply) => metrics.httpRequestEnded(request.method, routeTemplate(request), reply.statusCode, reply.elapsedTime / 1000));
}
