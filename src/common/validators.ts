import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsISO8601, Matches, registerDecorator, ValidateIf, type ValidationArguments, type ValidationOptions } from 'class-validator';
import { PROTOTYPE_KEYS } from './json-body';
import type { Rule } from './rules';
import { rule } from './validation';

// Custom class-validator constraints named after the data dictionaries' rules. Each decorator
// takes the rule name, so the same check reports the rule of the field it guards.

export const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
/** Keys that would reach prototypes if some code ever merged these objects naively. */

/**
 * A custom class-validator constraint that reports `rule`. `schema` is what the constraint
 * means for the OpenAPI document (bounds, formats), so the document states the limits the
 * validator enforces. Written above the validators, an explicit @ApiProperty is applied after
 * this and wins for the keys it sets.
 */
export function ruleDecorator(
  name: string,
  rule: Rule,
  validate: (value: unknown) => boolean,
  defaultMessage: (args: ValidationArguments) => string,
  options: ValidationOptions = {},
  schema?: ApiPropertyOptions,
) {
  return (target: object, propertyName: string) => {
    registerDecorator({
      name,
      target: target.constructor,
      propertyName,
      options: { context: { rule }, ...options },
      // The schema travels with the constraint, so the OpenAPI document can be checked against it.
      constraints: schema ? [schema] : undefined,
      validator: { validate, defaultMessage },
    });
    if (schema) ApiProperty(schema)(target, propertyName);
  };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Property present in the body: validated even when null (PATCH: null is not "absent"). */
export const OptionalButNotNull = () => ValidateIf((_object: object, value: unknown) => value !== undefined);

/**
 * The text of an https URL as it is stored: `new URL()` also takes `HTTPS://`, `https:host` and
 * surrounding or inner blanks, which it mends but the stored text (and the table's CHECK) keep.
 */
// Control characters on purpose: none may be in a stored URL.
// eslint-disable-next-line no-control-regex
const HTTPS_URL_TEXT = /^https:\/\/[^\s\u0000-\u001f\u007f]+$/;

export function IsHttpsUrl(rule: Rule, options?: ValidationOptions) {
  return ruleDecorator(
    'isHttpsUrl',
    rule,
    (value) => {
      if (typeof value !== 'string' || value.length > 2048 || !HTTPS_URL_TEXT.test(value)) return false;
      try {
        const url = new URL(value);
        return url.protocol === 'https:' && url.hostname.length > 0 && !url.username && !url.password;
      } catch {
        return false;
      }
    },
    (args) => `${args.property} must be an https URL (at most 2048 characters, no credentials in it)`,
    options,
    { type: 'string', format: 'uri', maxLength: 2048, pattern: HTTPS_URL_TEXT.source },
  );
}

/**
 * A plain JSON object of snake_case keys to non-empty strings (field_mappings,
 * accounting_code_mappings): `field_mappings_must_be_valid_json_object`.
 */
export function IsSnakeCaseStringMap(rule: Rule, limits = { maxKeys: 200, maxValueLength: 255 }, options?: ValidationOptions) {
  return ruleDecorator(
    'isSnakeCaseStringMap',
    rule,
    (value) =>
      isPlainObject(value) &&
      Object.keys(value).length <= limits.maxKeys &&
      Object.entries(value).every(
        ([key, v]) => SNAKE_CASE.test(key) && key.length <= 255 && !PROTOTYPE_KEYS.has(key) && typeof v === 'string' && v.trim().length > 0 && v.length <= limits.maxValueLength,
      ),
    (args) => `${args.property} must be a JSON object of snake_case keys to non-empty strings (at most ${limits.maxKeys} keys)`,
    options,
    { type: 'object', maxProperties: limits.maxKeys, additionalProperties: { type: 'string', minLength: 1, maxLength: limits.maxValueLength } },
  );
}

function jsonShapeWithin(value: unknown, depth: number, budget: { nodes: number }): boolean {
  if (--budget.nodes < 0 || depth > 10) return false;
  if (Array.isArray(value)) return value.every((item) => jsonShapeWithin(item, depth + 1, budget));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).every(([key, v]) => !PROTOTYPE_KEYS.has(key) && key.length <= 255 && jsonShapeWithin(v, depth + 1, budget));
  }
  return typeof value !== 'string' || value.length <= 10_000;
}

/** A plain JSON object of bounded size and depth (extra_config). */
export function IsBoundedJsonObject(rule: Rule, options?: ValidationOptions) {
  return ruleDecorator(
    'isBoundedJsonObject',
    rule,
    (value) => isPlainObject(value) && jsonShapeWithin(value, 0, { nodes: 1000 }),
    (args) => `${args.property} must be a JSON object (at most 1000 values, 10 levels deep, no prototype keys)`,
    options,
    { type: 'object', maxProperties: 1000, additionalProperties: true },
  );
}

/** The field must not be sent at all (e.g. the `*_encrypted` columns). */
export function MustBeAbsent(rule: Rule, message: string) {
  return ruleDecorator(
    'mustBeAbsent',
    rule,
    (value) => value === undefined,
    () => message,
  );
}

/** `whsec_` followed by the base64 of 24 to 64 random bytes (Standard Webhooks). */
export function isWebhookSecret(value: unknown): boolean {
  if (typeof value !== 'string' || !value.startsWith('whsec_')) return false;
  const encoded = value.slice('whsec_'.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return false;
  const bytes = Buffer.from(encoded, 'base64');
  return bytes.toString('base64') === encoded && bytes.length >= 24 && bytes.length <= 64;
}

export function IsWebhookSecret(rule: Rule) {
  return ruleDecorator(
    'isWebhookSecret',
    rule,
    isWebhookSecret,
    (args) => `${args.property} must be whsec_ followed by the base64 of 24 to 64 random bytes`,
    {},
    {
      type: 'string',
      pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
      minLength: 'whsec_'.length + 32,
      maxLength: 'whsec_'.length + 88,
    },
  );
}

/** A non-empty string within a length bound. */
export function IsBoundedString(rule: Rule, bounds: { min?: number; max: number; trim?: boolean }, options?: ValidationOptions) {
  const min = bounds.min ?? 1;
  return ruleDecorator(
    'isBoundedString',
    rule,
    (value) => typeof value === 'string' && (bounds.trim ? value.trim() : value).length >= min && value.length <= bounds.max,
    (args) => `${args.property} must be a string of ${min} to ${bounds.max} characters${bounds.trim ? ' (not blank)' : ''}`,
    options,
    { type: 'string', minLength: min, maxLength: bounds.max },
  );
}

// RFC 3339's profile of ISO 8601 only: ISO's week dates (2026-W01-1), ordinal dates (2026-032),
// basic format (20260101T000000Z), hour-only times and comma fractions pass IsISO8601 but are
// read otherwise, or refused, by PostgreSQL. IsISO8601 still checks the calendar (no 02-30).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp (`timestamp_must_be_iso8601`, the name clients already match on). */
export function IsRfc3339Timestamp() {
  const decorators = [
    IsISO8601({ strict: true, strictSeparator: true }, rule('timestamp_must_be_iso8601', '$property must be an RFC 3339 timestamp')),
    Matches(RFC3339, rule('timestamp_must_be_iso8601', '$property must be an RFC 3339 timestamp')),
    IsBoundedString('timestamp_must_be_iso8601', { max: 40 }),
  ];
  return (target: object, propertyName: string) => decorators.forEach((decorate) => decorate(target, propertyName));
}

/**
 * Keeps a free-form JSON value as it was sent. class-transformer's copy of a nested plain object
 * leaves out every key that names an inherited method (`toString`, `valueOf`, `hasOwnProperty`…),
 * so a lookup map's `"toString"` entry or a record's `valueOf` field would vanish without a word.
 * The validation pipe has taken out `__proto__`, `constructor` and `prototype` keys before.
 */
export const AsSent = (): PropertyDecorator => Transform(({ obj, key }) => (obj as Record<string, unknown>)[key], { toClassOnly: true });
