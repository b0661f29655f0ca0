// Database constraints and the rules they enforce, so a race that slips past a service check
// (two concurrent creates) still answers with the rule, not a 500. Feature modules register
// their constraints next to the migration that creates them.

export interface ConstraintRule {
  rule: string;
  status: number;
  field?: string;
  message: string;
}

const constraintRules = new Map<string, ConstraintRule>();

export function registerConstraintRule(constraint: string, rule: ConstraintRule): void {
  constraintRules.set(constraint, rule);
}

export function ruleForConstraint(constraint: string | undefined): ConstraintRule | undefined {
  return constraint ? constraintRules.get(constraint) : undefined;
}
