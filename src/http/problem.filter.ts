import { ArgumentsHost, Catch, HttpException, Logger, NotFoundException, Optional, type ExceptionFilter } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { QueryFailedError, QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { bodyReadViolation } from './body-parsers';
import { allowedMethods } from './allowed-methods';
import { AuditService } from '../audit/audit.service';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import type { HttpRequest } from './http-types';
import { principalLogFields, requestLogFields } from '../logging/request-log';
import { ruleForConstraint } from '../common/constraint-rules';
import { codeForStatus, problem, problemOf, PROBLEM_CONTENT_TYPE, type ProblemDetails } from '../common/problem';
import { RuleViolation } from '../common/rule-violation';
import { UUID_PATTERN } from '../common/uuid';
import { driverErrorOf } from '../database/driver-error';

/** PostgreSQL SQLSTATEs that mean "the database itself is unreachable or going away". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08003', '08006', '08001', '08004']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * The one place an exception becomes an HTTP answer: always problem+json, never a stack, SQL,
 * parameter value or secret.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  constructor(@Optional() private readonly audit?: AuditService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    // Fastify's reply (the service) or Express's response (a host application): both have these.
    const response = host.switchToHttp().getResponse<ProblemResponse>();
    const request = host.switchToHttp().getRequest<HttpRequest>();
    let body = this.toProblem(exception, request);
    // No route for this method, but for others on the path: 405 with what it allows, not 404.
    const unrouted = noRoute(exception);
    const allow = unrouted ? allowedMethods(request as { server?: object }, unrouted.path) : [];
    // A route of this very method that found nothing (a static file missing, a path the router reads otherwise) stays 404.
    if (allow.length > 0 && !allow.includes(request.method.toUpperCase())) {
      body = problemOf('method_not_allowed', `${request.method} is not allowed here; this path allows ${allow.join(', ')}.`);
      response.header('Allow', allow.join(', '));
    }
    if (body.status === 401 || body.status === 403) this.auditRefusal(body, request);
    if ((response.raw ?? (response as unknown as ServerResponse)).headersSent) return;
    if (exception instanceof RuleViolation && exception.retryAfterSeconds !== undefined) response.header('Retry-After', String(exception.retryAfterSeconds));
    if (exception instanceof RuleViolation && exception.rateLimit !== undefined) {
      // The limit that refused, in place of the request budget's the guard set.
      response.header('RateLimit-Limit', String(exception.rateLimit));
      response.header('RateLimit-Remaining', '0');
      response.header('RateLimit-Reset', String(exception.retryAfterSeconds ?? 1));
    }
    response.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }

  toProblem(exception: unknown, request?: HttpRequest): ProblemDetails {
    const cause = exception instanceof HttpException ? (exception.cause as { code?: string; type?: string } | undefined) : undefined;
    const bodyRefusal = cause ? bodyReadViolation(cause.code ?? cause.type, request) : undefined;
    if (bodyRefusal) exception = bodyRefusal;
    if (exception instanceof RuleViolation) {
      return problem(exception.status, exception.rule, exception.detail, exception.errors);
    }
    if (exception instanceof HttpException) return this.httpProblem(exception);
    if (exception instanceof QueryFailedError) {
      const driverError = driverErrorOf(exception);
      const mapped = ruleForConstraint(driverError?.constraint);
      if (mapped && ['23505', '23503', '23514'].includes(driverError?.code ?? '')) {
        if (mapped.rule === 'not_found') return problemOf('not_found', mapped.message);
        return problemOf(mapped.rule, mapped.message, [{ field: mapped.field, rule: mapped.rule, message: mapped.message }]);
      }
    }
    // Before the database check: Node reports the client's leaving with the code a lost database connection has too.
    if (clientLeftMidBody(exception, request)) return problemOf('validation_failed', 'The client closed the connection before its body was read.');
    if (this.isDatabaseUnavailable(exception)) {
      this.logger.error({ err: summarizeError(exception), req: request && requestLogFields(request) }, 'database unavailable');
      return problemOf('service_unavailable', 'The database is unavailable; retry shortly.');
    }
    this.logger.error({ err: summarizeError(exception), req: request && requestLogFields(request) }, 'unexpected error');
    return problemOf('internal_error', 'An unexpected error occurred. It has been logged.');
  }

  /** Every refused authentication or authorization is an audit event: who, where (req), which rule. */
  private auditRefusal(body: ProblemDetails, request: HttpRequest & AuthenticatedRequest): void {
    const principal = request.principal;
    this.logger.warn({
      event: body.status === 401 ? 'authentication_refused' : 'authorization_refused',
      code: body.code,
      org_id: request.params?.['org_id'] ?? null,
      config_id: request.params?.['id'] ?? request.params?.['integration_id'] ?? null,
      actor: principal ? principalLogFields(principal) : null,
      ip: request.ip,
      req: requestLogFields(request),
    });
    if (body.status === 403 && principal) this.recordRefusal(body, request, principal);
  }

  /**
   * A refused authorization is also a row of an audit trail: an organization admin's in their own
   * organization's (whichever organization they asked for: another tenant must not be able to
   * write into, or show itself in, the trail of the one it probed), the others' in the one asked
   * for. Only 403s: a 401 has no one to name, and anonymous traffic must not grow the table.
   */
  private recordRefusal(body: ProblemDetails, request: HttpRequest & AuthenticatedRequest, principal: Principal): void {
    const uuid = (value: unknown) => (typeof value === 'string' && UUID_PATTERN.test(value) ? value.toLowerCase() : null);
    const askedFor = uuid(request.params?.['org_id']);
    const orgId = principal.role === 'org_admin' ? principal.orgId : askedFor;
    // Ids of the path are the asker's words: kept only where they name the trail's own organization's resources.
    const own = orgId !== null && orgId === askedFor;
    const route = (request as { routeOptions?: { url?: string } }).routeOptions?.url ?? null;
    const resourceId = own ? uuid(request.params?.['id'] ?? request.params?.['integration_id']) : null;
    const integrationId = own ? (uuid(request.params?.['integration_id']) ?? (route?.includes('/integrations/:id') ? resourceId : null)) : null;
    this.audit
      ?.record({
        orgId,
        actor: principal,
        action: 'access.refused',
        resource: { type: 'request', id: resourceId, integrationId },
        details: { rule: body.code, method: request.method, route, ...(own ? {} : { organization_asked_for: askedFor }) },
        requestId: requestLogFields(request).id,
      })
      .catch((error: unknown) => this.logger.error({ err: summarizeError(error), req: requestLogFields(request) }, 'audit event not written'));
  }

  private httpProblem(exception: HttpException): ProblemDetails {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
    let detail = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : exception.message;
    const unrouted = noRoute(exception);
    // Nest quotes the URL whole: the query string may carry what a client should never have put in a URL.
    if (unrouted) detail = `Cannot ${unrouted.method} ${unrouted.path.length > 200 ? `${unrouted.path.slice(0, 200)}…` : unrouted.path}`;
    const code = codeForStatus(status);
    if (status === 400) {
      return problem(400, code, detail, [{ field: 'request', rule: 'bad_request', message: detail }]);
    }
    return problem(status, code, status >= 500 ? 'An unexpected error occurred.' : detail);
  }

  private isDatabaseUnavailable(exception: unknown): boolean {
    // TypeORM releases a transaction's query runner when its connection errors (the server went
    // away between two statements); the next statement then fails with one of these (through the
    // query runner or the entity manager), not with a pg error.
    if (exception instanceof QueryRunnerAlreadyReleasedError || exception instanceof QueryRunnerProviderAlreadyReleasedError) return true;
    const error = exception as { code?: string; message?: string } | undefined;
    const code = driverErrorOf(exception)?.code ?? error?.code;
    if (code && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
    return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable/i.test(
      error?.message ?? '',
    );
  }
}

interface ProblemResponse {
  status(code: number): ProblemResponse;
  type(contentType: string): ProblemResponse;
  header(name: string, value: string): unknown;
  send(body: string): unknown;
  raw?: ServerResponse;
}

/**
 * The client went away while its body was being read: Node fails the read with `aborted`, code
 * ECONNRESET, on a request stream that ended early. Nobody hears the answer, and the access log
 * says "request aborted"; nothing else is logged.
 */
function clientLeftMidBody(exception: unknown, request?: HttpRequest): boolean {
  if ((exception as { message?: unknown } | undefined)?.message !== 'aborted') return false;
  // Fastify's request keeps Node's as `raw`; a host's Express request is Node's own.
  const incoming = ((request as { raw?: IncomingMessage } | undefined)?.raw ?? request) as IncomingMessage | undefined;
  return incoming?.readableAborted === true || incoming?.aborted === true;
}

/** What may be logged of an error: never a QueryFailedError's query or parameters. */
export function summarizeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const driverCode = driverErrorOf(error)?.code;
  return {
    name: error.name,
    message: error instanceof QueryFailedError ? 'query failed' : error.message,
    code: driverCode ?? (error as { code?: string }).code,
    stack: error.stack,
  };
}

/** The method and path (no query string) of Nest's answer when the router found no route (`Cannot GET /path?…`); null for any other error, a 404 a handler threw included. */
function noRoute(exception: unknown): { method: string; path: string } | null {
  if (!(exception instanceof NotFoundException)) return null;
  const response = exception.getResponse();
  const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
  const match = typeof message === 'string' ? /^Cannot ([A-Z]+) ([^?]*)/s.exec(message) : null;
  return match ? { method: match[1], path: match[2] } : null;
}
