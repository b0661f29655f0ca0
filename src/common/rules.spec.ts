import { assertDocumentedStatus } from '../http/api-problem';
import { codeForStatus } from './problem';
import { RuleViolation } from './rule-violation';
import { PROBLEM_CODES, STATUS_OF_CODE, statusOfCode, VALIDATION_RULES } from './rules';

describe('the one table of statuses (STATUS_OF_CODE)', () => {
  it("answers API.md's table: 409 for uniqueness and state rules, 422 for the other business rules", () => {
    // API.md "Errors", the rules each row names.
    const contract = {
      409: ['one_config_per_integration_type_per_org', 'unique_source_field_per_integration', 'immutable_after_export_use', 'disabled_integration_must_not_sync'],
      422: [
        'credentials_required_before_enable',
        'webhook_secret_required_for_inbound_webhooks',
        'source_field_must_exist_in_internal_schema',
        'required_fields_must_have_default_or_reliable_source',
        'transform_config_must_match_transform_type',
        'coverage_check_before_export',
        'egress_destination_not_allowed',
      ],
      403: ['forbidden', 'org_scoped_access_only'],
      400: ['validation_failed'],
      401: ['unauthorized'],
      404: ['not_found'],
      412: ['precondition_failed'],
      413: ['payload_too_large'],
      429: ['rate_limited'],
      500: ['internal_error'],
    };
    for (const [status, rules] of Object.entries(contract)) for (const rule of rules) expect({ rule, status: statusOfCode(rule) }).toEqual({ rule, status: Number(status) });
  });

  it("gives every generic code a status, and a status's generic code back", () => {
    for (const code of PROBLEM_CODES) expect(codeForStatus(STATUS_OF_CODE[code])).toBe(code);
    // A status no generic code has: an error of the server's, or of the request's.
    expect([codeForStatus(502), codeForStatus(418)]).toEqual(['internal_error', 'validation_failed']);
  });

  it("lists no dictionary validation rule: those are a 400's field rules", () => {
    expect(VALIDATION_RULES.filter((rule) => statusOfCode(rule) !== undefined)).toEqual([]);
    // Names that are no code at all, including what every object has.
    expect([statusOfCode('constructor'), statusOfCode('toString'), statusOfCode('no_such_rule')]).toEqual([undefined, undefined, undefined]);
  });

  it("a RuleViolation carries its code's status, whoever throws it", () => {
    expect(new RuleViolation('immutable_after_export_use', 'frozen').status).toBe(409);
    expect(new RuleViolation('coverage_check_before_export', 'missing').status).toBe(422);
    expect(RuleViolation.forbidden('no', 'org_scoped_access_only').status).toBe(403);
    expect(RuleViolation.rateLimited('slow down', 6, 10).status).toBe(429);
  });

  it('refuses to document a rule under a status it is never answered with', () => {
    expect(() => assertDocumentedStatus('integration_paused', 422)).toThrow('integration_paused is documented as a 422 but answered with 409');
    expect(() => assertDocumentedStatus('base_url_must_be_https', 422)).toThrow('answered with 400');
    expect(() => assertDocumentedStatus('base_url_must_be_https', 400)).not.toThrow();
    expect(() => assertDocumentedStatus('mapping_version_superseded', 409)).not.toThrow();
  });
});
