// RFC 9457 problem details, exactly as API.md "Errors" describes them. Pure: no Nest imports.
import { PROBLEM_CODES, STATUS_OF_CODE, type AnsweredCode, type Rule } from './rules';

/** class-validator's constraint name in snake_case (`is_boolean`): a type error no dictionary rule names. */
export type ValidatorConstraintName = `is_${string}` | `max_${string}` | `min_${string}` | `array_${string}`;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://docs.meander.example/problems/';

export interface FieldError {
  /** The JSON name of the field, with `items[i].` / `a.b` prefixes for nested ones. */
  field: string;
  /** A rule name of the catalogue (the data dictionaries' verbatim), or a validator's own constraint. */
  rule: Rule | ValidatorConstraintName;
  message: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: FieldError[];
}

/** Codes that are not rule names, and their titles. */
export const GENERIC_CODES = {
  validation_failed: 'Validation failed',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  precondition_failed: 'Precondition failed',
  payload_too_large: 'Payload too large',
  rate_limited: 'Too many requests',
  internal_error: 'Internal error',
  service_unavailable: 'Service unavailable',
  method_not_allowed: 'Method not allowed',
  unsupported_media_type: 'Unsupported media type',
  conflict: 'Conflict',
} as const;

export type GenericCode = keyof typeof GENERIC_CODES;

/** `one_config_per_integration_type_per_org` → `One config per integration type per org`. */
export function titleForCode(code: string): string {
  if (code in GENERIC_CODES) return GENERIC_CODES[code as GenericCode];
  const words = code.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Bounds of a problem body: a body of 50,000 unknown keys must not come back 50,000 times. */
export const PROBLEM_LIMITS = { errors: 100, detail: 2000, field: 300, message: 1000 } as const;

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function problem(status: number, code: string, detail: string, errors?: FieldError[]): ProblemDetails {
  const body: ProblemDetails = { type: PROBLEM_TYPE_BASE + code, title: titleForCode(code), status, code, detail: clip(detail, PROBLEM_LIMITS.detail) };
  if (errors && errors.length > 0) {
    body.errors = errors
      .slice(0, PROBLEM_LIMITS.errors)
      .map((e) => ({ field: clip(e.field, PROBLEM_LIMITS.field), rule: e.rule, message: clip(e.message, PROBLEM_LIMITS.message) }));
  }
  return body;
}

/** The problem for `code`, at the status the one table of statuses (rules.ts) gives it. */
export function problemOf(code: AnsweredCode, detail: string, errors?: FieldError[]): ProblemDetails {
  return problem(STATUS_OF_CODE[code], code, detail, errors);
}

/** Each status's generic code, read off the one table of statuses (rules.ts). */
const GENERIC_CODE_OF_STATUS: ReadonlyMap<number, string> = new Map(PROBLEM_CODES.map((code) => [STATUS_OF_CODE[code], code]));

/** The generic code for a status when nothing more specific is known. */
export function codeForStatus(status: number): string {
  return GENERIC_CODE_OF_STATUS.get(status) ?? (status >= 500 ? 'internal_error' : 'validation_failed');
}
