// The database constraints a request can reach past the service's own check, and the rule each
// enforces, so that race still answers with the rule, not a 500. Each entry has an e2e spec that
// reaches it (test/constraint-races.e2e-spec.ts). A constraint the service's check always runs
// before under the same row lock (the config's webhook secret, sync runs' and export runs'
// foreign keys) is not listed: if it ever fires it is a bug, and a 500 says so. Nor is the one
// config per type and organization (idx_integration_configs_org_type): IntegrationConfigService
// catches it itself, to name the config that won the race. The foreign keys name the parent's
// organization too (migration 1763800000015): every write takes a child's organization_id from the
// parent row it just read under that organization, so a mismatch is unreachable through the API
// and, like the rest, a bug that a 500 should show. fk_webhook_events_integration below still
// answers a config deleted meanwhile: with the organization in the key it fails the same way.

import type { AnsweredCode, Rule } from './rules';

/** Its status is the rule's (rules.ts STATUS_OF_CODE). */
export type ConstraintRule = { rule: 'not_found'; message: string } | { rule: Extract<Rule, AnsweredCode>; field: string; message: string };

const CONSTRAINT_RULES: Readonly<Record<string, ConstraintRule>> = {
  // A writer that does not lock the config row first (another version of the service during a
  // rolling deploy, a script) makes a mapping of the same source field current between the
  // check and the insert.
  idx_field_mapping_integration_source_unique: {
    rule: 'unique_source_field_per_integration',
    field: 'source_field',
    message: 'This integration already has a current mapping for this source field.',
  },
  // An inbound webhook reads its config without a lock: the config deleted meanwhile.
  fk_webhook_events_integration: { rule: 'not_found', message: 'Integration not found.' },
};

export function ruleForConstraint(constraint: string | undefined): ConstraintRule | undefined {
  return constraint ? CONSTRAINT_RULES[constraint] : undefined;
}
