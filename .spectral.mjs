// `npm run lint:openapi`: the OpenAPI document (openapi.json, as served at /docs-json) against
// Spectral's OpenAPI rules and the OWASP API Security Top 10 2023 ruleset. Errors fail `npm test`.
// Every rule turned off or narrowed below says why.
import owasp from '@stoplight/spectral-owasp-ruleset';
import { oas } from '@stoplight/spectral-rulesets';

export default {
  extends: [
    [oas, 'recommended'],
    [owasp, 'recommended'],
  ],
  rules: {
    // Free-form maps are the point of these fields: accounting_code_mappings, field_mappings and
    // lookup maps are keyed by the organization's own codes, extra_config by the external system's
    // settings, export records and rows by field names. Each is bounded by maxProperties and, where
    // the values are strings, by maxLength; closing them with additionalProperties: false would
    // make them useless.
    'owasp:api3:2023-no-additionalProperties': 'off',
    // Free text has no pattern to give: display names, error messages, problem details, formats,
    // formulas, webhook payloads. Every such string is bounded by maxLength (string-limit, an error,
    // stays on), and identifiers that do have a shape carry a pattern or a format.
    'owasp:api4:2023-string-restricted': 'off',
  },
  overrides: [
    {
      // Inbound webhooks take no bearer token: each delivery is verified by the HMAC signature of its
      // raw body (Standard Webhooks or Xledger), documented as header parameters of the operation
      // (the braces are percent-encoded: in these patterns they would be glob syntax).
      // As security schemes they were fill-in boxes in Swagger UI's Authorize dialog no admin can
      // use (a signature covers one body at one time), so the operation declares `security: []`.
      files: ['**#/paths/~1v1~1webhooks~1%7Bintegration_id%7D'],
      rules: { 'owasp:api2:2023-write-restricted': 'off' },
    },
    {
      // Liveness and readiness probes: an orchestrator calls them without credentials, they are
      // exempt from rate limits (a flood elsewhere must not get the instance restarted), and they
      // take no input that could be invalid.
      files: ['**#/paths/~1health~1live', '**#/paths/~1health~1ready'],
      rules: {
        'owasp:api2:2023-read-restricted': 'off',
        'owasp:api8:2023-define-error-responses-401': 'off',
        'owasp:api4:2023-rate-limit': 'off',
        'owasp:api4:2023-rate-limit-responses-429': 'off',
        'owasp:api8:2023-define-error-validation': 'off',
      },
    },
  ],
};
