import type { IntegrationTypeDefinition, SourceFieldDefinition } from './integration-type';

/** The internal expense-claim schema (API.md "Integration types"). */
export const EXPENSE_CLAIM_SOURCE_FIELDS: readonly SourceFieldDefinition[] = Object.freeze([
  { name: 'claim_id', type: 'uuid', non_null: true, path: null },
  { name: 'organization_id', type: 'uuid', non_null: true, path: null },
  { name: 'peer_mentor_id', type: 'uuid', non_null: true, path: null },
  { name: 'expense_type', type: 'string', non_null: true, path: null },
  { name: 'expense_amount', type: 'number', non_null: true, path: null },
  { name: 'currency', type: 'string', non_null: true, path: null },
  { name: 'expense_date', type: 'date', non_null: true, path: null },
  { name: 'activity_date', type: 'date', non_null: false, path: null },
  { name: 'activity_id', type: 'uuid', non_null: false, path: null },
  { name: 'description', type: 'string', non_null: false, path: null },
  { name: 'km_distance', type: 'number', non_null: false, path: 'expense_line.km_distance' },
  { name: 'passenger_count', type: 'integer', non_null: false, path: 'expense_line.passenger_count' },
  { name: 'toll_amount', type: 'number', non_null: false, path: null },
  { name: 'parking_amount', type: 'number', non_null: false, path: null },
  { name: 'receipt_url', type: 'string', non_null: false, path: null },
  { name: 'approved_at', type: 'datetime', non_null: false, path: null },
  { name: 'approved_by', type: 'uuid', non_null: false, path: null },
  { name: 'cost_center', type: 'string', non_null: false, path: null },
  { name: 'project_code', type: 'string', non_null: false, path: null },
  { name: 'accounting_code', type: 'string', non_null: false, path: null, derived: 'accounting_code' },
] satisfies SourceFieldDefinition[]);

export const BUILT_IN_INTEGRATION_TYPES: readonly IntegrationTypeDefinition[] = Object.freeze([
  {
    integration_type: 'xledger',
    display_name: 'Xledger',
    required_credentials: ['api_key'],
    required_target_fields: ['Amount', 'TransactionDate', 'AccountCode'],
    source_fields: [...EXPENSE_CLAIM_SOURCE_FIELDS],
  },
  {
    integration_type: 'dynamics',
    display_name: 'Microsoft Dynamics 365',
    required_credentials: ['client_id', 'client_secret', 'tenant_id'],
    required_target_fields: ['ExpenseAmount', 'ExpenseDate', 'ContactId'],
    source_fields: [...EXPENSE_CLAIM_SOURCE_FIELDS],
  },
  {
    integration_type: 'hlf_portal',
    display_name: 'HLF member portal',
    required_credentials: ['client_id', 'client_secret'],
    required_target_fields: ['ActivityDate', 'PeerMentorId'],
    source_fields: [...EXPENSE_CLAIM_SOURCE_FIELDS],
  },
] satisfies IntegrationTypeDefinition[]);
