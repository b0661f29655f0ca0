import { countOf } from './count-of';

describe('countOf', () => {
  it('writes the noun plural for every count but one', () => {
    expect([0, 1, 2].map((n) => countOf(n, 'row'))).toEqual(['0 rows', '1 row', '2 rows']);
    expect(countOf(3, 'mapping rule')).toBe('3 mapping rules');
  });
});
