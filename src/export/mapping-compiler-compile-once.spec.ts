// compileMappings compiles each formula once (a separate file: it counts compileFormula's calls).
import { EXPENSE_CLAIM_SOURCE_FIELDS } from '../integration-types/built-in-types';
import * as expression from './expression';
import { compileMappings } from './mapping-compiler';
import { mappingSpec } from './mapping-spec';

jest.mock('./expression', () => {
  const actual = jest.requireActual<typeof import('./expression')>('./expression');
  return { ...actual, compileFormula: jest.fn(actual.compileFormula) };
});

const compileFormula = expression.compileFormula as jest.MockedFunction<typeof expression.compileFormula>;
const ctx = { sourceFields: EXPENSE_CLAIM_SOURCE_FIELDS, accountingCodeMappings: { travel_km: '4001' } };

describe('compileMappings', () => {
  beforeEach(() => compileFormula.mockClear());

  it('compiles each formula once, and no formula for other transforms', () => {
    const compiled = compileMappings(
      [
        mappingSpec('a', 0, 'km_distance', 'Mileage', { transform_type: 'computed', transform_config: { expression: 'km_distance * 4.5' } }),
        mappingSpec('b', 1, 'cost_center', 'Code', { transform_type: 'computed', transform_config: { expression: 'concat(accounting_code, cost_center)' } }),
        mappingSpec('c', 2, 'currency', 'Currency'),
        mappingSpec('d', 3, 'currency', 'Fixed', { transform_type: 'static', transform_config: { value: 'NOK' } }),
      ],
      ctx,
    );
    expect(compileFormula).toHaveBeenCalledTimes(2);
    // The one compilation serves both the transform and the derived-field warning.
    expect(compiled({ expense_line: { km_distance: 10 }, cost_center: 'C', expense_type: 'travel_km', accounting_code: 'x' })).toEqual({
      output: { Mileage: 45, Code: '4001C', Currency: null, Fixed: 'NOK' },
      skipped_reason: null,
      warnings: ['record_accounting_code_ignored:Code'],
    });
    expect(compileFormula).toHaveBeenCalledTimes(2);
  });
});
