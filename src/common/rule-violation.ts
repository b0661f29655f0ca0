import { countOf } from './count-of';
import type { FieldError } from './problem';
import { STATUS_OF_CODE, type AnsweredCode } from './rules';

/**
 * A refusal a service throws: the rule (or generic code) that refused the request and the fields
 * concerned; its HTTP status is the code's, from the one table in rules.ts. The problem filter
 * turns it into problem+json.
 */
export class RuleViolation extends Error {
  override name = 'RuleViolation';
  readonly status: number;

  constructor(
    readonly rule: AnsweredCode,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    /** Seconds a client should wait before retrying (429, 503): sent as Retry-After. */
    readonly retryAfterSeconds?: number,
    /** A 429 of a limit of the service's own (not the request budgets'): its size, for the RateLimit-* headers. */
    readonly rateLimit?: number,
  ) {
    super(detail);
    this.status = STATUS_OF_CODE[rule];
  }

  static validation(errors: FieldError[], detail?: string): RuleViolation {
    const summary = detail ?? `${countOf(errors.length, 'field')} failed validation: ${[...new Set(errors.map((e) => e.field))].join(', ')}`;
    return new RuleViolation('validation_failed', summary, errors);
  }

  static notFound(what: string): RuleViolation {
    return new RuleViolation('not_found', `${what} not found`);
  }

  static forbidden(detail: string, rule: 'forbidden' | 'org_scoped_access_only' = 'forbidden'): RuleViolation {
    return new RuleViolation(rule, detail);
  }

  /**
   * 429 of a limit a service keeps (per config, per integration): its RateLimit-* headers say that
   * limit (its size, none left, ready again in `retryAfterSeconds`), not the request's budget.
   */
  static rateLimited(detail: string, limit: number, retryAfterSeconds: number): RuleViolation {
    return new RuleViolation('rate_limited', detail, [], retryAfterSeconds, limit);
  }

  static unauthorized(detail: string): RuleViolation {
    return new RuleViolation('unauthorized', detail);
  }
}

/** The row, or a 404 naming what was not found (another organization's row is not found either). */
export function foundOr404<T>(row: T | null | undefined, what: string): T {
  if (row === null || row === undefined) throw RuleViolation.notFound(what);
  return row;
}
