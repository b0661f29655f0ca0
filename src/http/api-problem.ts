import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { codeForStatus, PROBLEM_CONTENT_TYPE, PROBLEM_LIMITS, problem, titleForCode, type FieldError, type ProblemDetails } from '../common/problem';
import { RuleViolation } from '../common/rule-violation';
import { statusOfCode, type ProblemCode, type Rule } from '../common/rules';
import { MAX_ALERT_ENDPOINTS } from '../alerts/dto/alert-endpoint.dto';
import { MAX_EXPORT_OUTPUT_BYTES } from '../export';
import { IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_WINDOW_HOURS, idempotencyKeyNotSupported } from '../idempotency/idempotency-key';
import { BUILT_IN_INTEGRATION_TYPES } from '../integration-types/built-in-types';
import { DEFAULT_BODY_LIMIT } from './body-parsers';

const RULE_NAME = '^[a-z][a-z0-9_]*$';

export class FieldErrorResponse {
  @ApiProperty({ example: 'base_url', maxLength: PROBLEM_LIMITS.field }) field: string;
  @ApiProperty({ example: 'base_url_must_be_https', description: 'A rule name of the data dictionaries, verbatim', pattern: RULE_NAME, maxLength: 100 }) rule: string;
  @ApiProperty({ example: 'base_url must use https', maxLength: PROBLEM_LIMITS.message }) message: string;
}

export class ProblemResponse {
  @ApiProperty({ example: 'https://docs.meander.example/problems/validation_failed', format: 'uri', maxLength: 200 }) type: string;
  @ApiProperty({ example: 'Validation failed', maxLength: 120 }) title: string;
  @ApiProperty({ type: 'integer', example: 400, minimum: 400, maximum: 599 }) status: number;
  @ApiProperty({ example: 'validation_failed', description: 'validation_failed, a business rule name, or a generic code', pattern: RULE_NAME, maxLength: 100 }) code: string;
  @ApiProperty({ example: '1 field failed validation: base_url', maxLength: PROBLEM_LIMITS.detail }) detail: string;
  @ApiPropertyOptional({ type: [FieldErrorResponse], maxItems: PROBLEM_LIMITS.errors, description: `At most ${PROBLEM_LIMITS.errors}` }) errors?: FieldErrorResponse[];
}

/** One problem response: a status, and the rules (codes) that can produce it. */
export interface ProblemSpec {
  status: number;
  rules?: (Rule | ProblemCode)[];
  description?: string;
  /** The route's own words for a code, where they differ from SERVICE_ANSWERS (e.g. a 404 that is not a config's). */
  answers?: Partial<Record<Rule | ProblemCode, ProblemAnswer>>;
}

/** What a problem answer says besides its status and code. */
export interface ProblemAnswer {
  detail: string;
  errors?: FieldError[];
}

const fieldError = (field: string, rule: Rule, message: string): FieldError => ({ field, rule, message });
/** A 400 as RuleViolation.validation() words it. */
export const invalid = (errors: FieldError[], detail?: string): ProblemAnswer => {
  const violation = RuleViolation.validation(errors, detail);
  return { detail: violation.detail, errors: violation.errors };
};
const CONFIG_ID = '3f6c2a1e-8b4d-4e7a-9c15-2d0b7e9f4a63';
const MAPPING_ID = 'c8e41f07-5a2b-4d39-b6e1-0f7a9d3c2b58';

/**
 * The service's own words for the problems its code (not a DTO validator) answers, as the code
 * that throws each one writes them (the file is named). Examples of these codes in the document
 * are these answers; 400s of DTO fields are written from the validators' messages instead
 * (openapi-problem-examples.ts). test/openapi-examples.e2e-spec.ts compares examples with live answers.
 */
export const SERVICE_ANSWERS: Partial<Record<Rule | ProblemCode, ProblemAnswer>> = {
  // auth/authenticator.ts, org-scope/org-scope.guard.ts, auth/auth.guard.ts
  unauthorized: { detail: 'A bearer token is required: Authorization: Bearer <JWT>.' },
  forbidden: { detail: 'The role sync_service may not do this.' },
  org_scoped_access_only: { detail: 'Organization admins may only access their own organization.' },
  // common/rule-violation.ts (foundOr404 of a config), common/if-match.ts
  not_found: { detail: 'Integration config not found' },
  precondition_failed: { detail: 'If-Match does not match the current revision "3": read the resource again and retry.' },
  // http/rate-limit.guard.ts (the default write budget), http/problem.filter.ts, health/health.controller.ts
  rate_limited: { detail: 'Too many requests: at most 300 per minute; retry in 1 s.' },
  internal_error: { detail: 'An unexpected error occurred. It has been logged.' },
  service_unavailable: { detail: 'The database is not reachable.' },
  // http/body-parsers.ts, app.factory.ts, idempotency/
  payload_too_large: { detail: `The request body exceeds the limit of ${DEFAULT_BODY_LIMIT} bytes for this route.` },
  unsupported_media_type: { detail: 'The request body must be application/json.' },
  url_must_be_valid: invalid(
    [fieldError('url', 'url_must_be_valid', 'the path is not valid percent-encoding')],
    'The URL is not valid: a path segment is not valid percent-encoding.',
  ),
  body_must_be_valid_json: invalid([fieldError('body', 'body_must_be_valid_json', 'the request body is not valid JSON')], 'The request body is not valid JSON.'),
  idempotency_key_must_be_valid: invalid([
    fieldError('Idempotency-Key', 'idempotency_key_must_be_valid', `Idempotency-Key must be one header of 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters`),
  ]),
  sync_time_zone_must_be_iana_zone: invalid([
    fieldError('extra_config.sync_time_zone', 'sync_time_zone_must_be_iana_zone', 'extra_config.sync_time_zone must name an IANA time zone (e.g. Europe/Oslo) or UTC'),
  ]),
  idempotency_key_in_use: { detail: 'A request with this Idempotency-Key is still running: retry shortly.' },
  idempotency_key_reused_with_other_request: {
    detail: `This Idempotency-Key was sent with another request in the last ${IDEMPOTENCY_WINDOW_HOURS} hours: use a new key for a new request.`,
  },
  // integration-config/
  one_config_per_integration_type_per_org: {
    detail: `This organization already has a xledger config (id ${CONFIG_ID}): PATCH it instead.`,
    errors: [fieldError('integration_type', 'one_config_per_integration_type_per_org', `a xledger config already exists: ${CONFIG_ID}`)],
  },
  credentials_required_before_enable: {
    detail: 'An enabled integration needs: api_key.',
    errors: [fieldError('api_key', 'credentials_required_before_enable', 'api_key is required to enable a xledger integration')],
  },
  credentials_required_for_new_base_url: {
    detail: 'A base_url on another origin needs the credentials again: api_key.',
    errors: [
      fieldError(
        'api_key',
        'credentials_required_for_new_base_url',
        'base_url now points at another origin (scheme, host or port): give api_key again (or null to clear it) in the same request',
      ),
    ],
  },
  webhook_secret_required_for_inbound_webhooks: {
    detail: 'webhook_url needs a webhook secret.',
    errors: [fieldError('webhook_secret', 'webhook_secret_required_for_inbound_webhooks', 'webhook_url needs a webhook secret (send webhook_secret, or POST /webhook-secret)')],
  },
  dataverse_names_must_be_schema_names: {
    detail: 'extra_config names what the connector writes to: each must be a plain Dataverse name.',
    errors: [
      fieldError('extra_config.entity_set', 'dataverse_names_must_be_schema_names', 'extra_config.entity_set must be a Dataverse schema name (letters, digits, _; at most 128)'),
    ],
  },
  disabled_integration_must_not_sync: { detail: 'This integration is disabled: sync services must skip it entirely.' },
  integration_paused: { detail: 'Deliveries of this integration are paused after failed attempts: fix the cause, then PATCH paused: false.' },
  finished_at_not_before_started_at: invalid([fieldError('finished_at', 'finished_at_not_before_started_at', 'finished_at must not be before started_at')]),
  // field-mapping/
  source_field_must_exist_in_internal_schema: {
    detail: '1 mapping rule failed: source_field',
    errors: [fieldError('source_field', 'source_field_must_exist_in_internal_schema', 'mileage_rate is not a source field of xledger')],
  },
  transform_config_must_match_transform_type: {
    detail: '1 mapping rule failed: transform_config',
    errors: [fieldError('transform_config', 'transform_config_must_match_transform_type', 'a direct transform takes no transform_config (null)')],
  },
  required_fields_must_have_default_or_reliable_source: {
    detail: '1 mapping rule failed: is_required',
    errors: [
      fieldError(
        'is_required',
        'required_fields_must_have_default_or_reliable_source',
        'a required mapping needs a default_value, a static transform, or a non-null source read by direct/format (claim_description is nullable)',
      ),
    ],
  },
  unique_source_field_per_integration: {
    detail: 'Already mapped: source_field.',
    errors: [fieldError('source_field', 'unique_source_field_per_integration', `expense_amount is already mapped (${MAPPING_ID})`)],
  },
  mapping_version_superseded: { detail: 'Version 1 was superseded and is kept read-only; change the current version.' },
  immutable_after_export_use: {
    detail: 'This mapping was used by a completed export and is kept for audit: deactivate it (is_active: false) instead.',
  },
  ids_must_be_unique: invalid([fieldError('ids[1]', 'ids_must_be_unique', 'each id may appear once')]),
  order_ids_must_belong_to_integration: {
    detail: 'Every id must be a current field mapping of this integration.',
    errors: [fieldError('ids[0]', 'order_ids_must_belong_to_integration', `${MAPPING_ID} is not a current mapping of this integration`)],
  },
  // export-runs/, sync/
  coverage_check_before_export: {
    detail: 'Required target fields without an active mapping: AccountCode.',
    errors: [fieldError('AccountCode', 'coverage_check_before_export', 'required target field AccountCode has no active mapping')],
  },
  export_output_within_bounds: {
    detail: `The export would produce more than ${MAX_EXPORT_OUTPUT_BYTES} bytes: send fewer records, or map fewer or shorter values.`,
    errors: [fieldError('records', 'export_output_within_bounds', `the mapped output exceeds ${MAX_EXPORT_OUTPUT_BYTES} bytes`)],
  },
  egress_destination_not_allowed: {
    detail: 'Outbound requests may not reach 10.0.0.7: it is not https or resolves to a loopback, private, link-local or otherwise internal address.',
    errors: [fieldError('base_url', 'egress_destination_not_allowed', 'the host is not an address outbound requests may reach')],
  },
  // Validation without a DTO field of its own: the pipe's whitelist, and the registry's names (integration-types/).
  unknown_field: invalid([fieldError('colour', 'unknown_field', 'colour is not a known field')]),
  integration_type_must_be_known_value: invalid([
    fieldError(
      'integration_type',
      'integration_type_must_be_known_value',
      `integration_type must be one of: ${BUILT_IN_INTEGRATION_TYPES.map((t) => t.integration_type).join(', ')}`,
    ),
  ]),
  // alerts/
  alert_endpoints_within_bounds: { detail: `An organization has at most ${MAX_ALERT_ENDPOINTS} alert endpoints: delete one first.` },
  // audit/
  time_range_must_be_ordered: invalid([fieldError('to', 'time_range_must_be_ordered', 'to must be later than from')]),
};

/** The 400 answer of a route that refuses an Idempotency-Key (@RefusesIdempotencyKey(next)), in its own words. */
export function keyNotSupportedAnswer(next: string): ProblemSpec['answers'] {
  const violation = idempotencyKeyNotSupported(next);
  return { idempotency_key_not_supported: { detail: violation.detail, errors: violation.errors } };
}

/** Marks an example no answer is known for yet: conventions fill it from the validators, or a spec fails. */
export const UNKNOWN_ANSWER_PREFIX = 'Example: ';

/** The problem+json body the service answers for a status and code, as far as SERVICE_ANSWERS knows it. */
export function problemAnswer(status: number, code: string, own?: ProblemAnswer): ProblemDetails {
  const answer = own ?? SERVICE_ANSWERS[code as Rule];
  if (answer) return problem(status, answer.errors && status === 400 ? 'validation_failed' : code, answer.detail, answer.errors);
  return problem(status, status === 400 ? 'validation_failed' : code, `${UNKNOWN_ANSWER_PREFIX}${titleForCode(code).toLowerCase()}`);
}

/**
 * Documents problem+json responses: `@ApiProblemResponses(401, 404, { status: 409, rules: ['one_config_per_integration_type_per_org'] })`.
 * Each gets an example body per rule: the service's answer (SERVICE_ANSWERS, or for a 400 of a DTO
 * field the validator's own message, filled in by the document's conventions).
 */
export function ApiProblemResponses(...specs: (number | ProblemSpec)[]) {
  const decorators = specs.map((spec) => {
    const { status, rules, description, answers } = typeof spec === 'number' ? ({ status: spec } as ProblemSpec) : spec;
    for (const rule of rules ?? []) assertDocumentedStatus(rule, status);
    // A 422 documented without its rules: any of them.
    const codes = rules?.length ? rules : [status === 422 ? 'unprocessable' : codeForStatus(status)];
    const examples = Object.fromEntries(codes.map((code) => [code, { summary: titleForCode(code), value: problemAnswer(status, code, answers?.[code as Rule]) }]));
    return ApiResponse({
      status,
      description: description ?? `Problem details (${PROBLEM_CONTENT_TYPE}). ${rules?.length ? `Rules: ${rules.join(', ')}.` : ''}`.trim(),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(ProblemResponse) }, examples } },
    });
  });
  return applyDecorators(ApiExtraModels(ProblemResponse, FieldErrorResponse), ...decorators);
}

/**
 * A rule documented under a status it is never answered with fails at load: the document says what
 * the service answers (STATUS_OF_CODE), and a field rule is only ever a 400's.
 */
export function assertDocumentedStatus(rule: string, status: number): void {
  const answered = statusOfCode(rule) ?? 400;
  if (answered !== status) throw new Error(`${rule} is documented as a ${status} but answered with ${answered} (rules.ts STATUS_OF_CODE)`);
}
