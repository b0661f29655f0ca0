import type { FieldError } from './problem';
import type { ProblemCode, Rule } from './rules';

/**
 * A refusal a service throws: the rule (or generic code) that refused the request, its HTTP
 * status and the fields concerned. The problem filter turns it into problem+json.
 */
export class RuleViolation extends Error {
  override name = 'RuleViolation';

  constructor(
    readonly rule: Rule | ProblemCode,
    readonly status: number,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    /** Seconds a client should wait before retrying (429, 503): sent as Retry-After. */
    readonly retryAfterSeconds?: number,
    /** A 429 of a limit of the service's own (not the request budgets'): its size, for the RateLimit-* headers. */
    readonly rateLimit?: number,
  ) {
    super(detail);
  }

  static validation(errors: FieldError[], detail?: string): RuleViolation {
    const summary = detail ?? `${errors.length} field${errors.length === 1 ? '' : 's'} failed validation: ${[...new Set(errors.map((e) => e.field))].join(', ')}`;
    return new RuleViolation('validation_failed', 400, summary, errors);
  }

  static notFound(what: string): RuleViolation {
    return new RuleViolation('not_found', 404, `${what} not found`);
  }

  static forbidden(detail: string, rule: Rule | ProblemCode = 'forbidden'): RuleViolation {
    return new RuleViolation(rule, 403, detail);
  }

  /**
   * 429 of a limit a service keeps (per config, per integration): its RateLimit-* headers say that
   * limit (its size, none left, ready again in `retryAfterSeconds`), not the request's budget.
   */
  static rateLimited(detail: string, limit: number, retryAfterSeconds: number): RuleViolation {
    return new RuleViolation('rate_limited', 429, detail, [], retryAfterSeconds, limit);
  }

  static unauthorized(detail: string): RuleViolation {
    return new RuleViolation('unauthorized', 401, detail);
  }
}

/** The row, or a 404 naming what was not found (another organization's row is not found either). */
export function foundOr404<T>(row: T | null | undefined, what: string): T {
  if (row === null || row === undefined) throw RuleViolation.notFound(what);
  return row;
}
