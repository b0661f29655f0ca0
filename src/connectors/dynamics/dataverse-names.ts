// The names a Dataverse config gives in extra_config, and what each may look like. Pure: no Nest
// imports. The connector puts them into request URLs and bodies; the config's rules refuse a bad
// one at write time, so it never reaches an export.

/** Target fields the config may rename to the entity's own columns (`extra_config.columns`). */
export const RENAMEABLE_FIELDS = ['ExpenseAmount', 'ExpenseDate', 'ContactId'] as const;
/** An entity set, alternate key or column: a plain schema name (it becomes part of a URL). */
export const DATAVERSE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A Microsoft Entra tenant: its id or domain name. */
export const TENANT = /^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$/;

/**
 * A row's reference as the value of its alternate key: each character Dataverse cannot address a
 * record by (/ # < > * % & : \ ? +: GET and PATCH by such a key "won't work", Microsoft's
 * define-alternate-keys-portal) written `_`. `meander:<run>:<index>` becomes
 * `meander_<run>_<index>`, still one value per row (a run id holds none of them).
 */
export function dataverseKeyValue(reference: string): string {
  return reference.replace(/[/#<>*%&:\\?+]/g, '_');
}

/** For each extra_config name a Dataverse connector reads, what is wrong with its value (nothing when absent or blank: missing is the enable rule's). */
export function dataverseNameErrors(integrationType: string, extra: Record<string, unknown>): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  const absent = (value: unknown) => value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
  const name = (key: string) => {
    const value = extra[key];
    if (!absent(value) && (typeof value !== 'string' || !DATAVERSE_IDENTIFIER.test(value))) {
      errors.push({ field: `extra_config.${key}`, message: `extra_config.${key} must be a Dataverse schema name (letters, digits, _; at most 128)` });
    }
  };
  name('entity_set');
  name('alternate_key');
  const columns = extra['columns'];
  if (columns !== undefined && columns !== null) {
    if (typeof columns !== 'object' || Array.isArray(columns)) {
      errors.push({ field: 'extra_config.columns', message: `extra_config.columns must be an object of ${RENAMEABLE_FIELDS.join(', ')} to column names` });
    } else {
      for (const [key, value] of Object.entries(columns)) {
        if (!(RENAMEABLE_FIELDS as readonly string[]).includes(key)) {
          errors.push({ field: `extra_config.columns.${key}`, message: `only ${RENAMEABLE_FIELDS.join(', ')} can be renamed` });
        } else if (typeof value !== 'string' || !DATAVERSE_IDENTIFIER.test(value)) {
          errors.push({ field: `extra_config.columns.${key}`, message: `extra_config.columns.${key} must be a Dataverse column name (letters, digits, _; at most 128)` });
        }
      }
    }
  }
  const tenant = extra['tenant_id'];
  if (integrationType === 'hlf_portal' && !absent(tenant) && (typeof tenant !== 'string' || !TENANT.test(tenant))) {
    errors.push({ field: 'extra_config.tenant_id', message: 'extra_config.tenant_id must be a tenant id or domain name' });
  }
  return errors;
}
