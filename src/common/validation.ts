import { Body, Query, ValidationPipe, type ArgumentMetadata, type PipeTransform, type ValidationError } from '@nestjs/common';
import { getMetadataStorage, validate, ValidationTypes, type ValidationOptions, type ValidatorOptions } from 'class-validator';
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

/** What is checked, and how failures are reported: the same for both pipes below. */
const VALIDATOR_OPTIONS: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: false,
  // Report every field, not only the first constraint of the first one.
  stopAtFirstError: false,
  validationError: { target: false, value: false },
};

const validationFailed = (errors: ValidationError[]) => RuleViolation.validation(flattenValidationErrors(errors));

/** Strict bodies and queries (unknown fields refused), every failing field at once. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({ ...VALIDATOR_OPTIONS, transform: true, exceptionFactory: validationFailed });
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

/**
 * For a body whose DTO has only top-level fields, one of them bulk data that the service reads
 * without trusting its shape (an export's records: the compiled mapping reads own properties
 * only, and unknown keys are ignored). The DTO's fields are checked with the same rules and
 * options as ValidationPipe, on a shallow instance: the bulk data is not copied, only walked once
 * to drop prototype keys at every depth, as ValidationPipe does.
 * ValidationPipe deep-copies a body (class-transformer) and walks it twice more (prototype keys,
 * binary values): for 10,000 records, a quarter of an export preview's time.
 */
const PROTOTYPE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);
const shallowClasses = new WeakMap<object, boolean>();

/** Whether a DTO's rules all judge top-level values (no @ValidateNested, which needs instances). */
function isShallow(metatype: new () => object): boolean {
  let shallow = shallowClasses.get(metatype);
  if (shallow === undefined) {
    const rules = getMetadataStorage().getTargetValidationMetadatas(metatype, '', true, false);
    shallow = rules.every((r) => r.type !== ValidationTypes.NESTED_VALIDATION);
    shallowClasses.set(metatype, shallow);
  }
  return shallow;
}

export class ShallowBodyValidationPipe implements PipeTransform<unknown, Promise<object>> {
  async transform(value: unknown, metadata: ArgumentMetadata): Promise<object> {
    const metatype = metadata.metatype as (new () => object) | undefined;
    if (!metatype || !isShallow(metatype)) throw new Error('ShallowBodyValidationPipe is for DTO classes without nested validation');
    const entity = new metatype();
    // As ValidationPipe: an array is judged by its indexes (unknown fields), prototype keys are
    // dropped; defined, not assigned, so no key can reach a prototype.
    if (typeof value === 'object' && value !== null) {
      for (const [key, field] of Object.entries(value)) {
        if (!PROTOTYPE_KEYS.has(key)) Object.defineProperty(entity, key, { value: field, enumerable: true, writable: true, configurable: true });
      }
    }
    const errors = await validate(entity, VALIDATOR_OPTIONS);
    if (errors.length > 0) throw validationFailed(errors);
    // Prototype keys go at every depth, as ValidationPipe drops them: a walk, not a copy.
    for (const field of Object.values(entity)) dropPrototypeKeys(field);
    return entity;
  }
}

/** Deletes `__proto__`, `prototype` and `constructor` own keys from a parsed JSON value, at every depth. */
function dropPrototypeKeys(value: unknown): void {
  const stack = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null) continue;
    if (Array.isArray(current)) {
      for (const item of current) if (typeof item === 'object' && item !== null) stack.push(item);
      continue;
    }
    const record = current as Record<string, unknown>;
    for (const key in record) {
      if (PROTOTYPE_KEYS.has(key)) delete record[key];
      else if (typeof record[key] === 'object' && record[key] !== null) stack.push(record[key]);
    }
  }
}

export const SHALLOW_BODY_VALIDATION_PIPE = new ShallowBodyValidationPipe();

/** A body with bulk data (export records), validated by ShallowBodyValidationPipe. */
export const ValidBulkBody = (): ParameterDecorator => Body(SHALLOW_BODY_VALIDATION_PIPE);

