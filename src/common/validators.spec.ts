import { randomBytes } from 'node:crypto';
import { isWebhookSecret, SNAKE_CASE } from './validators';

describe('isWebhookSecret', () => {
  it('accepts whsec_ + canonical base64 of 24 to 64 bytes', () => {
    for (const n of [24, 32, 64]) expect(isWebhookSecret(`whsec_${randomBytes(n).toString('base64')}`)).toBe(true);
  });

  it('refuses other prefixes, sizes and non-canonical base64', () => {
    for (const value of [
      randomBytes(32).toString('base64'),
      `whsec_${randomBytes(23).toString('base64')}`,
      `whsec_${randomBytes(65).toString('base64')}`,
      'whsec_A+/=',
      'whsec_not base64',
      42,
      null,
    ]) {
      expect(isWebhookSecret(value)).toBe(false);
    }
  });
});

// source_field_snake_case, and the keys of field_mappings_must_be_valid_json_object: lowercase
// words of letters and digits, the first starting with a letter, joined by single underscores.
describe('SNAKE_CASE', () => {
  it.each(['x', 'expense_amount', 'km_distance', 'field1', 'address_line_2', 'a1_b2_c3', 'travel_km'])('accepts %s', (value) => {
    expect(SNAKE_CASE.test(value)).toBe(true);
  });

  it.each([
    'expense-amount',
    'expense__amount',
    'expense_',
    '1st_field',
    '_x',
    '_',
    '',
    'ExpenseAmount',
    'expense_Amount',
    'expense amount',
    'expense.amount',
    'expense_amount\n',
    'ex\u00e9',
  ])('refuses %j', (value) => {
    expect(SNAKE_CASE.test(value)).toBe(false);
  });
});
