import { dataverseNameErrors } from './dataverse-names';

describe('dataverseNameErrors', () => {
  const fields = (type: string, extra: Record<string, unknown>) => dataverseNameErrors(type, extra).map((e) => e.field);

  it('takes plain schema names, and nothing at all', () => {
    expect(fields('dynamics', {})).toEqual([]);
    expect(fields('dynamics', { entity_set: 'msdyn_expenses', alternate_key: 'meander_reference', columns: { ExpenseAmount: 'msdyn_amount', ContactId: '_x' } })).toEqual([]);
    expect(fields('hlf_portal', { tenant_id: 'contoso.onmicrosoft.com', entity_set: 'cr123_activities' })).toEqual([]);
  });

  it('refuses what would change the request URL or body', () => {
    for (const bad of ["expenses'", 'a/b', 'expenses?$filter=x', 'a b', '1abc', 'x'.repeat(129), 42]) {
      expect(fields('dynamics', { entity_set: bad })).toEqual(['extra_config.entity_set']);
      expect(fields('dynamics', { alternate_key: bad })).toEqual(['extra_config.alternate_key']);
    }
    expect(fields('dynamics', { columns: ['ExpenseAmount'] })).toEqual(['extra_config.columns']);
    expect(fields('dynamics', { columns: { Amount: 'x', ExpenseDate: 'a-b' } })).toEqual(['extra_config.columns.Amount', 'extra_config.columns.ExpenseDate']);
    expect(fields('hlf_portal', { tenant_id: 'contoso/../x' })).toEqual(['extra_config.tenant_id']);
    // A dynamics config's tenant is its tenant_id field, not extra_config.
    expect(fields('dynamics', { tenant_id: 'contoso/../x' })).toEqual([]);
  });
});
