// Pure types of the integration-type registry: no Nest imports, so the export compiler and
// the validators can use them directly.

export type SourceFieldType = 'uuid' | 'string' | 'number' | 'integer' | 'date' | 'datetime';

/** One field of the internal expense-claim schema that a mapping may read. */
export interface SourceFieldDefinition {
  name: string;
  type: SourceFieldType;
  /** Guaranteed present and non-null in every record the platform produces. */
  non_null: boolean;
  /** Dot path inside a record where the value lives, when it is not the top-level `name`. */
  path: string | null;
  /**
   * Derived fields are not read from the record: `accounting_code` comes from the config's
   * `accounting_code_mappings[expense_type]`.
   */
  derived?: 'accounting_code';
}

/** What the registry answers for each kind of derived field: where its value comes from. */
export const DERIVED_FROM: Readonly<Record<NonNullable<SourceFieldDefinition['derived']>, string>> = Object.freeze({
  accounting_code: 'accounting_code_mappings[expense_type]',
});

/** Credentials a config may hold; `base_url` is always required as well to enable. */
export type CredentialName = 'api_key' | 'client_id' | 'client_secret' | 'tenant_id';

export interface IntegrationTypeDefinition {
  integration_type: string;
  display_name: string;
  required_credentials: CredentialName[];
  required_target_fields: string[];
  source_fields: SourceFieldDefinition[];
}
