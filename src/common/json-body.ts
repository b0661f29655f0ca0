// What a JSON body may hold before any validator or the database sees it. Pure: no Nest imports.
//
// PostgreSQL refuses NUL in text and jsonb (22021, 22P05) and unpaired surrogates in jsonb
// (22P02); JSON.parse reads 1e309 as Infinity, which JSON.stringify then writes as null; a body
// nested thousands of levels deep overflows the stack of every recursive validator; and own
// `__proto__`/`constructor` keys are an attack, not data. Each is refused here as a rule, at its
// field, instead of surfacing later as a 500 or a silently changed value.
import type { FieldError } from './problem';

/** Deepest nesting of objects and arrays a body may have (the body itself is level 1). */
export const MAX_JSON_DEPTH = 64;
const MAX_REPORTED = 20;
/** Keys that reach JavaScript prototypes: refused as data wherever a name comes from a client. */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
// NUL, a high surrogate not followed by a low one, a low one not preceded by a high one.
// eslint-disable-next-line no-control-regex -- NUL is the character refused
const NOT_STORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NOT_STORABLE_TEXT_ALL = new RegExp(NOT_STORABLE_TEXT.source, 'g');

/**
 * Text from outside that is stored, not refused (a vendor's error message, an id it answered):
 * what PostgreSQL cannot store becomes U+FFFD, as a decoder writes what it cannot read.
 */
export function storableText(text: string): string {
  return NOT_STORABLE_TEXT.test(text) ? text.replace(NOT_STORABLE_TEXT_ALL, '\uFFFD') : text;
}

const joinKey = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** The fields of a parsed JSON body that cannot be accepted as they are (at most 20). */
export function jsonBodyViolations(body: unknown): FieldError[] {
  const errors: FieldError[] = [];
  // An explicit stack: a recursive walk is what a deep body is there to overflow.
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 1 }];
  while (pending.length > 0 && errors.length < MAX_REPORTED) {
    const { value, path, depth } = pending.pop()!;
    const field = path || 'body';
    if (typeof value === 'string') {
      if (NOT_STORABLE_TEXT.test(value)) errors.push(unstorableText(field));
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) errors.push({ field, rule: 'number_must_be_finite', message: `${field} is a number too large to represent` });
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_JSON_DEPTH) {
        errors.push({ field, rule: 'body_nesting_within_bounds', message: `the body is nested deeper than ${MAX_JSON_DEPTH} levels` });
        continue;
      }
      if (Array.isArray(value)) {
        // Last first, so the first is walked first; a loop, not push(...): a 10 MB body can be millions of items.
        for (let index = value.length - 1; index >= 0; index--) pending.push({ value: value[index], path: `${field}[${index}]`, depth: depth + 1 });
        continue;
      }
      const children: { value: unknown; path: string; depth: number }[] = [];
      for (const key of Object.keys(value)) {
        const keyPath = joinKey(path, key);
        if (PROTOTYPE_KEYS.has(key)) errors.push({ field: keyPath, rule: 'unknown_field', message: `${keyPath} is not a known field` });
        else if (NOT_STORABLE_TEXT.test(key)) errors.push(unstorableText(joinKey(path, JSON.stringify(key))));
        else children.push({ value: (value as Record<string, unknown>)[key], path: keyPath, depth: depth + 1 });
      }
      for (let index = children.length - 1; index >= 0; index--) pending.push(children[index]);
    }
  }
  return errors.slice(0, MAX_REPORTED);
}

function unstorableText(field: string): FieldError {
  return { field, rule: 'text_must_be_valid_unicode', message: `${field} contains a NUL character or an unpaired surrogate, which cannot be stored` };
}
