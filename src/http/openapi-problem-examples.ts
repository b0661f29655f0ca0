import { DECORATORS } from '@nestjs/swagger';
import type { ValidationArguments } from 'class-validator';
import { getMetadataStorage } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import type { FieldError } from '../common/problem';
import { RuleViolation } from '../common/rule-violation';
import type { Rule } from '../common/rules';
import type { ProblemAnswer } from './api-problem';
import { constraintsOf, validationTargets, type ValidatedClass } from './openapi-validator-schemas';

// A 400 example of a DTO field is the answer the validation pipe gives when that field alone breaks
// the rule: its field name, the validator's own message, and RuleViolation.validation()'s detail.
// Messages are read from the validators' metadata, so an example changes when the message does.

/** class-validator's message tokens, as its executor replaces them. */
function replaceTokens(message: string, args: ValidationArguments): string {
  let text = message.replace(/\$property/g, args.property).replace(/\$target/g, args.targetName);
  (args.constraints ?? []).forEach((constraint, i) => (text = text.replace(new RegExp(`\\$constraint${i + 1}`, 'g'), String(constraint))));
  return text;
}

/** The message the validation pipe reports for one failing constraint; undefined when it cannot be read without the app. */
function messageOf(meta: ValidationMetadata): string | undefined {
  const args: ValidationArguments = {
    property: meta.propertyName,
    value: undefined,
    constraints: meta.constraints ?? [],
    targetName: meta.target instanceof Function ? meta.target.name : '',
    object: {},
  };
  if (typeof meta.message === 'string') return replaceTokens(meta.message, args);
  if (typeof meta.message === 'function') return replaceTokens(meta.message(args), args);
  try {
    // Its default message; a constraint resolved from Nest's container (the registry's types) has none before the app runs.
    const constraint = getMetadataStorage().getTargetValidatorConstraints(meta.constraintCls)[0];
    const text = constraint?.instance?.defaultMessage?.(args);
    return text ? replaceTokens(text, args) : undefined;
  } catch {
    return undefined;
  }
}

/** The class of a DTO field's nested items (`@ApiProperty({ type: [CreateFieldMappingDto] })`). */
function nestedClassOf(target: ValidatedClass, property: string): ValidatedClass | undefined {
  const type = (Reflect.getMetadata(DECORATORS.API_MODEL_PROPERTIES, target.prototype as object, property) as { type?: unknown } | undefined)?.type;
  return typeof type === 'function' && getMetadataStorage().getTargetValidationMetadatas(type, '', true, false).length > 0 ? (type as ValidatedClass) : undefined;
}

/** The first field error of `rule` among a class's fields, then among its nested items' fields. */
function fieldErrorFor(target: ValidatedClass, rule: Rule, prefix = '', depth = 0): FieldError | undefined {
  const metas = constraintsOf(target);
  for (const meta of metas) {
    if ((meta.context as { rule?: string } | undefined)?.rule !== rule) continue;
    const message = messageOf(meta);
    if (message) return { field: `${prefix}${meta.propertyName}`, rule, message };
  }
  if (depth > 2) return undefined;
  for (const property of new Set(metas.map((m) => m.propertyName))) {
    const nested = nestedClassOf(target, property);
    const found = nested && fieldErrorFor(nested, rule, `${prefix}${property}[0].`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The DTO classes of one operation: its body's schema, and the classes whose fields are its query. */
export interface OperationInputs {
  bodySchema?: string;
  queryNames: string[];
}

/**
 * The 400 answer the service gives when one field of the operation's input breaks `rule`, or
 * undefined when no validator of its DTOs reports that rule.
 */
export function validationAnswer(inputs: OperationInputs, rule: string): ProblemAnswer | undefined {
  const targets = validationTargets();
  const body = inputs.bodySchema ? targets.filter((t) => t.name === inputs.bodySchema) : [];
  const queries = inputs.queryNames.length
    ? targets.filter((t) => {
        const fields = new Set(constraintsOf(t).map((m) => m.propertyName));
        return fields.size > 0 && [...fields].every((f) => inputs.queryNames.includes(f));
      })
    : [];
  for (const target of [...body, ...queries]) {
    const error = fieldErrorFor(target, rule as Rule);
    if (error) {
      const violation = RuleViolation.validation([error]);
      return { detail: violation.detail, errors: violation.errors };
    }
  }
  return undefined;
}
