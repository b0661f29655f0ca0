import { Body, Query, ValidationPipe, type ValidationError } from '@nestjs/common';
import type { ValidationOptions } from 'class-validator';
import type { FieldError } from './problem';
import { RuleViolation } from './rule-violation';

/**
 * Options for a class-validator decorator that reports the data dictionary's rule name:
 * `@IsIn(TYPES, rule('integration_type_must_be_known_value', 'integration_type is not a known type'))`.
 */
export function rule(name: string, message?: string, extra: ValidationOptions = {}): ValidationOptions {
  return { ...extra, context: { rule: name }, ...(message ? { message } : {}) };
}

export const UNKNOWN_FIELD_RULE = 'unknown_field';

const snake = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

function joinField(prefix: string, property: string): string {
  if (/^\d+$/.test(property)) return `${prefix}[${property}]`;
  return prefix ? `${prefix}.${property}` : property;
}

/** Every failing field of a nested class-validator result, flattened, with its rule name. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = joinField(prefix, error.property);
    // Several validators can carry one rule (an integer, at least 1, at most 200): name it once.
    const named = new Set<string>();
    for (const [key, message] of Object.entries(error.constraints ?? {})) {
      const contextRule = (error.contexts?.[key] as { rule?: string } | undefined)?.rule;
      const ruleName = key === 'whitelistValidation' ? UNKNOWN_FIELD_RULE : (contextRule ?? snake(key));
      if (named.has(ruleName)) continue;
      named.add(ruleName);
      const text = key === 'whitelistValidation' ? `${field} is not a known field` : message;
      out.push({ field, rule: ruleName, message: text });
    }
    if (error.children?.length) out.push(...flattenValidationErrors(error.children, field));
  }
  return out;
}

/** Strict bodies and queries (unknown fields refused), every failing field at once. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    // Report every field, not only the first constraint of the first one.
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => RuleViolation.validation(flattenValidationErrors(errors)),
  });
}

/**
 * The one validation pipe, on the parameters that carry a DTO (a spec checks that every body and
 * query parameter of the API has it). Not a global pipe: Nest runs global pipes on every
 * parameter, path ids and the organization included, each through a chain of promises, which
 * was ~15 % of the promises of a GET.
 */
export const VALIDATION_PIPE = createValidationPipe();

/** The request body, validated and transformed into its DTO class. */
export const ValidBody = (): ParameterDecorator => Body(VALIDATION_PIPE);

/** The query string, validated and transformed into its DTO class. */
export const ValidQuery = (): ParameterDecorator => Query(VALIDATION_PIPE);
