// The rule catalogue: every rule name the service answers with, written out in full once.
// `grep -rn <rule_name> src` lands here and on the code that enforces the rule (rule names are
// never shortened into constants). RuleViolation, rule() and ruleDecorator() take only these.

/**
 * The dictionaries' "Validation Rules" (seeds 000 and 002): field rules of a 400 `validation_failed`,
 * never a problem's code (so never in STATUS_OF_CODE). Seed 002 lists `coverage_check_before_export`
 * among them too, but API.md makes it a 422 business rule: it is with those.
 */
export const VALIDATION_RULES = [
  // seed 000
  'base_url_must_be_https',
  'field_mappings_must_be_valid_json_object',
  'display_name_not_empty',
  'integration_type_must_be_known_value',
  'encrypted_fields_must_not_be_stored_in_plaintext',
  'sync_frequency_must_be_known_value',
  // seed 002
  'source_field_snake_case',
  'target_field_non_empty',
  'transform_type_is_valid_enum',
  'lookup_transform_config_is_non_empty_map',
  'default_value_length_within_bounds',
  'source_field_path_valid_dot_notation',
  'sort_order_non_negative',
] as const;

/** The integration_configs data dictionary (seed 000): business rules. */
export const INTEGRATION_CONFIG_RULES = [
  'one_config_per_integration_type_per_org',
  'disabled_integration_must_not_sync',
  'credentials_required_before_enable',
  'sync_status_updated_after_every_attempt',
  'org_scoped_access_only',
  'webhook_secret_required_for_inbound_webhooks',
] as const;

/** The field_mapping data dictionary (seed 002): business rules. */
export const FIELD_MAPPING_RULES = [
  'coverage_check_before_export',
  'unique_source_field_per_integration',
  'source_field_must_exist_in_internal_schema',
  'required_fields_must_have_default_or_reliable_source',
  'transform_config_must_match_transform_type',
  'single_active_mapping_set_per_integration',
  'cascade_delete_on_integration_removal',
  'immutable_after_export_use',
] as const;

/** Rules of this service where the contract is silent (docs/api-decisions.md). */
export const SERVICE_RULES = [
  // request bodies and URLs
  'body_must_be_valid_json',
  'body_must_be_valid_utf8',
  'body_nesting_within_bounds',
  'text_must_be_valid_unicode',
  'number_must_be_finite',
  'unknown_field',
  'content_length_must_match',
  'request_must_be_valid_http',
  'url_must_be_valid',
  'bad_request',
  // configs and sync runs
  'integration_type_cannot_change',
  'credential_length_within_bounds',
  'identifier_length_within_bounds',
  'webhook_secret_format',
  'finished_at_not_before_started_at',
  'error_required_unless_success',
  'record_count_non_negative',
  'sync_status_must_be_known_value',
  'timestamp_must_be_iso8601',
  'enabled_must_be_boolean',
  'credentials_required_for_new_base_url',
  'sync_time_zone_must_be_iana_zone',
  // field mappings
  'mapping_version_superseded',
  'display_label_length_within_bounds',
  'order_ids_must_belong_to_integration',
  'ids_must_be_array',
  'ids_must_be_unique',
  'ids_must_be_uuids',
  'ids_within_bounds',
  'items_must_be_array',
  'items_within_bounds',
  'is_active_must_be_boolean',
  'is_required_must_be_boolean',
  'target_field_must_not_be_reserved',
  // exports and previews
  'records_must_be_objects',
  'record_must_be_object',
  'export_output_within_bounds',
  'deliver_must_be_boolean',
  // delivery (API.md v1.1)
  'egress_destination_not_allowed',
  'dataverse_names_must_be_schema_names',
  // the audit trail (issue 20)
  'audit_action_must_be_known_value',
  'resource_id_must_be_uuid',
  'time_range_must_be_ordered',
  // failure alerts and pausing (issue 20)
  'paused_must_be_boolean',
  'integration_paused',
  'alert_endpoints_within_bounds',
  // lists
  'limit_within_bounds',
  'cursor_must_be_valid',
  // Idempotency-Key
  'idempotency_key_must_be_valid',
  'idempotency_key_in_use',
  'idempotency_key_reused_with_other_request',
  'idempotency_key_not_supported',
] as const;

/** API.md's codes for a status when no rule names the refusal. */
export const PROBLEM_CODES = [
  'validation_failed',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'precondition_failed',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'internal_error',
  'service_unavailable',
  // Answered by the HTTP server itself, before any route (app.factory.ts).
  'request_timeout',
  'request_header_fields_too_large',
] as const;

export type Rule = (typeof VALIDATION_RULES)[number] | (typeof INTEGRATION_CONFIG_RULES)[number] | (typeof FIELD_MAPPING_RULES)[number] | (typeof SERVICE_RULES)[number];
export type ProblemCode = (typeof PROBLEM_CODES)[number];

/**
 * The HTTP status of every code a refusal answers with (a problem's `code`), in one place: a rule is
 * never a 409 at one throw site and a 422 at another. API.md's table: 409 for uniqueness and state
 * rules, 422 for any other business rule. The dictionaries' validation rules are not here: they
 * are field rules (`errors[].rule`) of a 400 `validation_failed`.
 */
export const STATUS_OF_CODE = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  org_scoped_access_only: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  one_config_per_integration_type_per_org: 409,
  unique_source_field_per_integration: 409,
  immutable_after_export_use: 409,
  disabled_integration_must_not_sync: 409,
  integration_paused: 409,
  mapping_version_superseded: 409,
  idempotency_key_in_use: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  credentials_required_before_enable: 422,
  credentials_required_for_new_base_url: 422,
  webhook_secret_required_for_inbound_webhooks: 422,
  dataverse_names_must_be_schema_names: 422,
  source_field_must_exist_in_internal_schema: 422,
  required_fields_must_have_default_or_reliable_source: 422,
  transform_config_must_match_transform_type: 422,
  order_ids_must_belong_to_integration: 422,
  coverage_check_before_export: 422,
  export_output_within_bounds: 422,
  alert_endpoints_within_bounds: 422,
  egress_destination_not_allowed: 422,
  idempotency_key_reused_with_other_request: 422,
  rate_limited: 429,
  request_header_fields_too_large: 431,
  internal_error: 500,
  service_unavailable: 503,
} as const satisfies Partial<Record<Exclude<Rule, (typeof VALIDATION_RULES)[number]> | ProblemCode, number>>;

/** A code a refusal can answer with: a generic code, or a rule that refuses a request as a whole. */
export type AnsweredCode = keyof typeof STATUS_OF_CODE;

/** The status `code` is answered with, or undefined for a field rule of a 400 (and for names that are no code). */
export function statusOfCode(code: string): number | undefined {
  return Object.hasOwn(STATUS_OF_CODE, code) ? STATUS_OF_CODE[code as AnsweredCode] : undefined;
}

const RULES: ReadonlySet<string> = new Set([...VALIDATION_RULES, ...INTEGRATION_CONFIG_RULES, ...FIELD_MAPPING_RULES, ...SERVICE_RULES]);

export function isRule(name: string): name is Rule {
  return RULES.has(name);
}
