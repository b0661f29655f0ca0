import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE, PROBLEM_LIMITS, problem, titleForCode } from '../common/problem';
import { isRule, type ProblemCode, type Rule } from '../common/rules';

const RULE_NAME = '^[a-z][a-z0-9_]*$';

export class FieldErrorResponse {
  @ApiProperty({ example: 'base_url', maxLength: PROBLEM_LIMITS.field }) field: string;
  @ApiProperty({ example: 'base_url_must_be_https', description: 'A rule name of the data dictionaries, verbatim', pattern: RULE_NAME, maxLength: 100 }) rule: string;
  @ApiProperty({ example: 'base_url must use https', maxLength: PROBLEM_LIMITS.message }) message: string;
}

export class ProblemResponse {
  @ApiProperty({ example: 'https://docs.meander.example/problems/validation_failed', format: 'uri', maxLength: 200 }) type: string;
  @ApiProperty({ example: 'Validation failed', maxLength: 120 }) title: string;
  @ApiProperty({ example: 400, minimum: 400, maximum: 599 }) status: number;
  @ApiProperty({ example: 'validation_failed', description: 'validation_failed, a business rule name, or a generic code', pattern: RULE_NAME, maxLength: 100 }) code: string;
  @ApiProperty({ example: '1 field failed validation: base_url', maxLength: PROBLEM_LIMITS.detail }) detail: string;
  @ApiPropertyOptional({ type: [FieldErrorResponse], maxItems: PROBLEM_LIMITS.errors, description: `At most ${PROBLEM_LIMITS.errors}` }) errors?: FieldErrorResponse[];
}

const DEFAULT_CODES: Record<number, ProblemCode | 'unprocessable'> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'payload_too_large',
  422: 'unprocessable',
  429: 'rate_limited',
  503: 'service_unavailable',
};

/** One problem response: a status, and the rules (codes) that can produce it. */
export interface ProblemSpec {
  status: number;
  rules?: (Rule | ProblemCode)[];
  description?: string;
}

/**
 * Documents problem+json responses: `@ApiProblemResponses(401, 404, { status: 409, rules: ['one_config_per_integration_type_per_org'] })`.
 * Each gets an example body per rule.
 */
export function ApiProblemResponses(...specs: (number | ProblemSpec)[]) {
  const decorators = specs.map((spec) => {
    const { status, rules, description } = typeof spec === 'number' ? { status: spec, rules: undefined, description: undefined } : spec;
    const codes = rules?.length ? rules : [DEFAULT_CODES[status] ?? 'internal_error'];
    const examples = Object.fromEntries(
      codes.map((code) => [
        code,
        {
          summary: titleForCode(code),
          value: problem(
            status,
            status === 400 ? 'validation_failed' : code,
            `Example: ${titleForCode(code).toLowerCase()}`,
            status === 400 ? [{ field: 'field_name', rule: isRule(code) ? code : 'unknown_field', message: `field_name violates ${code}` }] : undefined,
          ),
        },
      ]),
    );
    return ApiResponse({
      status,
      description: description ?? `Problem details (${PROBLEM_CONTENT_TYPE}). ${rules?.length ? `Rules: ${rules.join(', ')}.` : ''}`.trim(),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(ProblemResponse) }, examples } },
    });
  });
  return applyDecorators(ApiExtraModels(ProblemResponse, FieldErrorResponse), ...decorators);
}
