import { DECORATORS } from '@nestjs/swagger';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';

// The document states what the validators enforce: each class-validator constraint of a DTO
// field is translated into the OpenAPI keywords that say the same (IsInt → type integer, Max →
// maximum, ArrayMaxSize → maxItems…). `deriveSchemasFromValidators()` writes them into the
// fields' @ApiProperty metadata before the document is built, so a bound written once on the
// validator reaches the document; test/openapi-constraints.e2e-spec.ts compares both for every
// DTO field and fails on a constraint this table cannot translate.

// A schema fragment: OpenAPI keywords and their values.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SchemaFragment = Record<string, any>;

/** Constraints that bound nothing in a schema: presence and nesting are said by `required` and `$ref`. */
export const SCHEMALESS_CONSTRAINTS = new Set(['mustBeAbsent']);

/** A decorator's name, or that of the @ValidatorConstraint class a `@Validate(…)` names. */
export function constraintName(meta: ValidationMetadata): string | undefined {
  return meta.name ?? getMetadataStorage().getTargetValidatorConstraints(meta.constraintCls)[0]?.name;
}

/** What one constraint says in OpenAPI keywords; undefined for a constraint this table does not know. */
export function schemaOfConstraint(meta: ValidationMetadata): SchemaFragment | undefined {
  const c = meta.constraints ?? [];
  switch (constraintName(meta)) {
    case 'isInt':
      return { type: 'integer' };
    case 'isNumber':
      return { type: 'number' };
    case 'isBoolean':
      return { type: 'boolean' };
    case 'isString':
      return { type: 'string' };
    case 'isArray':
      return { type: 'array' };
    case 'isObject':
      return { type: 'object' };
    case 'min':
      return { minimum: c[0] };
    case 'max':
      return { maximum: c[0] };
    case 'minLength':
      return { minLength: c[0] };
    case 'maxLength':
      return { maxLength: c[0] };
    case 'isLength':
      return { minLength: c[0], ...(c[1] !== undefined ? { maxLength: c[1] } : {}) };
    case 'arrayMinSize':
      return { minItems: c[0] };
    case 'arrayMaxSize':
      return { maxItems: c[0] };
    case 'isIn':
      return { enum: [...c[0]] };
    case 'isEnum':
      // A numeric TypeScript enum maps names to numbers and back: its values are those of the named keys.
      return {
        enum: Object.keys(c[0])
          .filter((key) => Number.isNaN(Number(key)))
          .map((key) => c[0][key]),
      };
    case 'matches':
      return { pattern: c[0] instanceof RegExp ? c[0].source : String(c[0]) };
    case 'isUuid':
      return { format: 'uuid' };
    case 'isIso8601':
    case 'isDateString':
      return { format: 'date-time' };
    case 'isUrl':
      return { format: 'uri' };
    case 'isKnownIntegrationType':
      // The registry's names (GET /v1/integration-types): an importing service may add some, so
      // the document gives their shape and where to list them, not an enum.
      return { type: 'string' };
    default:
      // ruleDecorator() passes the schema of what it enforces as the constraint (validators.ts).
      if (meta.type === ValidationTypes.CUSTOM_VALIDATION && c.length === 1 && c[0] !== null && typeof c[0] === 'object' && !Array.isArray(c[0])) return { ...c[0] };
      if (SCHEMALESS_CONSTRAINTS.has(constraintName(meta) ?? '')) return {};
      return undefined;
  }
}

/** A validated class (a DTO, or the environment schema). */
export type ValidatedClass = abstract new (...args: never[]) => object;

/** Every class with validators (class-validator's storage). */
export function validationTargets(): ValidatedClass[] {
  // The storage keeps its targets privately; getTargetValidationMetadatas needs them.
  const storage = getMetadataStorage() as unknown as { validationMetadatas: Map<unknown, ValidationMetadata[]> };
  return [...storage.validationMetadatas.keys()].filter((t): t is ValidatedClass => typeof t === 'function');
}

/** The constraints of a class's fields, its own and inherited. */
export function constraintsOf(target: ValidatedClass): ValidationMetadata[] {
  return getMetadataStorage()
    .getTargetValidationMetadatas(target, '', true, false)
    .filter((m) => m.type === ValidationTypes.CUSTOM_VALIDATION);
}

/** Keywords the swagger metadata may already carry in another spelling (`type: Number`). */
function isNumberType(type: unknown): boolean {
  return type === Number || type === 'number' || type === undefined;
}

/**
 * Completes the @ApiProperty metadata of every validated field with what its validators enforce.
 * What a decorator states explicitly wins (the spec then reports a disagreement), except that a
 * number an integer validator guards becomes `type: integer`. Fields without @ApiProperty (hidden
 * ones such as the `*_encrypted` columns) are left alone. Idempotent.
 */
export function deriveSchemasFromValidators(): void {
  for (const target of validationTargets()) {
    const own = getMetadataStorage()
      .getTargetValidationMetadatas(target, '', true, false)
      .filter((m) => m.target === target && m.type === ValidationTypes.CUSTOM_VALIDATION);
    const byProperty = new Map<string, ValidationMetadata[]>();
    for (const m of own) byProperty.set(m.propertyName, [...(byProperty.get(m.propertyName) ?? []), m]);
    for (const [property, metas] of byProperty) {
      const prototype = target.prototype as object;
      const existing: SchemaFragment | undefined = Reflect.getMetadata(DECORATORS.API_MODEL_PROPERTIES, prototype, property);
      if (!existing) continue;
      const derived: SchemaFragment = {};
      const derivedItems: SchemaFragment = {};
      for (const m of metas) Object.assign(m.each ? derivedItems : derived, schemaOfConstraint(m) ?? {});
      const merged: SchemaFragment = { ...derived, ...existing };
      if (derived.type === 'integer' && isNumberType(existing.type)) merged.type = 'integer';
      if (Object.keys(derivedItems).length > 0 && existing.items && typeof existing.items === 'object' && !('$ref' in existing.items)) {
        merged.items = { ...derivedItems, ...existing.items };
      }
      Reflect.defineMetadata(DECORATORS.API_MODEL_PROPERTIES, merged, prototype, property);
    }
  }
}
