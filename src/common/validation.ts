import { Body, Query, ValidationPipe, type ArgumentMetadata, type PipeTransform, type ValidationError } from '@nestjs/common';
import { ARRAY_MAX_SIZE, getMetadataStorage, validate, ValidationTypes, type ValidationOptions, type ValidatorOptions } from 'class-validator';
import type { FieldError, ValidatorConstraintName } from './problem';
import { removeProtoKeys } from './nest-internals';
import { RuleViolation } from './rule-violation';
import type { Rule } from './rules';

/**
 * Options for a class-validator decorator that reports the data dictionary's rule name:
 * `@IsIn(TYPES, rule('integration_type_must_be_known_value', 'integration_type is not a known type'))`.
 */
export function rule(name: Rule, message?: string, extra: ValidationOptions = {}): ValidationOptions {
  return { ...extra, context: { rule: name }, ...(message ? { message } : {}) };
}

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
      // The context's rule was set by rule() or ruleDecorator(), both typed by the catalogue.
      const contextRule = (error.contexts?.[key] as { rule?: Rule } | undefined)?.rule;
      const ruleName: FieldError['rule'] = key === 'whitelistValidation' ? 'unknown_field' : (contextRule ?? (snake(key) as ValidatorConstraintName));
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

interface ArrayBound {
  property: string;
  max: number;
  rule: FieldError['rule'];
  message: string;
}

const arrayBounds = new WeakMap<object, ArrayBound[]>();

/** The DTO's top-level @ArrayMaxSize bounds, read once per class. */
function arrayBoundsOf(metatype: new () => object): ArrayBound[] {
  let bounds = arrayBounds.get(metatype);
  if (bounds === undefined) {
    bounds = getMetadataStorage()
      .getTargetValidationMetadatas(metatype, '', true, false)
      .filter((m) => m.name === ARRAY_MAX_SIZE && !m.each)
      .map((m) => ({
        property: m.propertyName,
        max: Number(m.constraints[0]),
        rule: (m.context as { rule?: Rule } | undefined)?.rule ?? 'array_max_size',
        message: typeof m.message === 'string' ? m.message : `${m.propertyName} must hold at most ${String(m.constraints[0])} items`,
      }));
    arrayBounds.set(metatype, bounds);
  }
  return bounds;
}

/**
 * An array over its DTO's @ArrayMaxSize is refused before anything else is done with it: the
 * validators would otherwise transform and judge every item first (a 60,000-item bulk body held
 * the event loop for ~5 s before "at most 500" was said).
 */
export function assertArrayBounds(value: unknown, metatype: unknown): void {
  if (typeof metatype !== 'function' || value === null || typeof value !== 'object') return;
  const errors: FieldError[] = [];
  for (const bound of arrayBoundsOf(metatype as new () => object)) {
    const items = (value as Record<string, unknown>)[bound.property];
    if (Array.isArray(items) && items.length > bound.max) errors.push({ field: bound.property, rule: bound.rule, message: bound.message });
  }
  if (errors.length > 0) throw RuleViolation.validation(errors);
}

/** ValidationPipe, with array bounds checked before the items are transformed and validated. */
class BoundedValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    assertArrayBounds(value, metadata.metatype);
    return super.transform(value, metadata);
  }
}

/** Strict bodies and queries (unknown fields refused), every failing field at once. */
export function createValidationPipe(): ValidationPipe {
  return new BoundedValidationPipe({ ...VALIDATOR_OPTIONS, transform: true, exceptionFactory: validationFailed });
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

/** The body of an action that takes no input (a rotation, POST …/sync): none, or `{}`; with `@ValidBody()` any field is unknown_field. */
export class NoFieldsDto {}

/**
 * A plain object validated and transformed into `dto` as a request body is (unknown fields, every
 * bound and rule): for a host application that calls the services with input from elsewhere. The
 * services trust their DTOs; the REST API validates at the door. Throws the same RuleViolation
 * (`validation_failed`, each field's rule) the API answers 400 with.
 */
export async function validateDto<T extends object>(dto: new () => T, value: unknown): Promise<T> {
  return (await VALIDATION_PIPE.transform(value, { type: 'body', metatype: dto })) as T;
}

/** The query string, validated and transformed into its DTO class. */
export const ValidQuery = (): ParameterDecorator => Query(VALIDATION_PIPE);

/** A query string where a route reads none: each parameter is unknown_field, as an unknown body field is (a client's `?limit=` is told, not ignored). */
class NoQueryPipe implements PipeTransform<unknown, Record<string, never>> {
  transform(value: unknown): Record<string, never> {
    const names = Object.keys(value && typeof value === 'object' ? value : {});
    if (names.length > 0) throw RuleViolation.validation(names.map((name) => ({ field: name, rule: 'unknown_field', message: `${name} is not a known field` })));
    return {};
  }
}

export const NO_QUERY_PIPE = new NoQueryPipe();

/** For a route that reads no query parameter: any sent is refused (NoQueryPipe). */
export const NoQuery = (): ParameterDecorator => Query(NO_QUERY_PIPE);

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

/**
 * For a body whose DTO has only top-level fields, one of them bulk data that the service reads
 * without trusting its shape (an export's records: the compiled mapping reads own properties
 * only, and unknown keys are ignored). The DTO's fields are checked with the same rules and
 * options as ValidationPipe, on a shallow instance; prototype keys are stripped at every depth
 * by the same walk ValidationPipe runs (Nest's stripProtoKeys, nest-internals.ts). What it leaves out is the deep
 * copy (class-transformer) and the search for binary values, which a parsed JSON body cannot
 * hold: for 10,000 records, a quarter of an export preview's time.
 */
export class ShallowBodyValidationPipe implements PipeTransform<unknown, Promise<object>> {
  async transform(value: unknown, metadata: ArgumentMetadata): Promise<object> {
    const metatype = metadata.metatype as (new () => object) | undefined;
    if (!metatype || !isShallow(metatype)) throw new Error('ShallowBodyValidationPipe is for DTO classes without nested validation');
    assertArrayBounds(value, metatype);
    removeProtoKeys(value);
    // As ValidationPipe: an array is judged by its indexes (unknown fields), anything else not an
    // object as no fields at all.
    const entity = Object.assign(new metatype(), typeof value === 'object' && value !== null ? value : {});
    const errors = await validate(entity, VALIDATOR_OPTIONS);
    if (errors.length > 0) throw validationFailed(errors);
    return entity;
  }
}

export const SHALLOW_BODY_VALIDATION_PIPE = new ShallowBodyValidationPipe();

/** A body with bulk data (export records), validated by ShallowBodyValidationPipe. */
export const ValidBulkBody = (): ParameterDecorator => Body(SHALLOW_BODY_VALIDATION_PIPE);
