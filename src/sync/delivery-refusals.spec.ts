import { glImportRefusal } from '../connectors/xledger/xledger-graphql';
import { MAX_WARNING_LENGTH, type ExportRow } from '../export';
import { deliveryRefusalWarnings } from './delivery-refusals';

const row = (index: number, output: Record<string, unknown>): ExportRow => ({ index, claim_id: null, output });
const valid = { Amount: 120.5, TransactionDate: '20.11.2026', AccountCode: '4001' };

describe('deliveryRefusalWarnings', () => {
  it("names each refused row by its index, in the connector's words; a row it sends gets none", () => {
    const rows = [row(0, valid), row(2, { ...valid, AccountCode: null }), row(5, { ...valid, TransactionDate: 'soon' })];
    expect(deliveryRefusalWarnings({ refusalOf: glImportRefusal }, rows)).toEqual([
      'delivery_would_refuse:2:AccountCode null is not an account code',
      'delivery_would_refuse:5:TransactionDate "soon" is not a date (yyyy-MM-dd or dd.MM.yyyy)',
    ]);
  });

  it('predicts nothing without a connector, or for one without a check', () => {
    const rows = [row(0, { AccountCode: null })];
    expect(deliveryRefusalWarnings(undefined, rows)).toEqual([]);
    expect(deliveryRefusalWarnings({}, rows)).toEqual([]);
  });

  it("lets a host connector's check that throws, or answers no text, predict nothing", () => {
    const rows = [row(0, valid), row(1, valid)];
    expect(
      deliveryRefusalWarnings(
        {
          refusalOf: () => {
            throw new Error('bug');
          },
        },
        rows,
      ),
    ).toEqual([]);
    expect(deliveryRefusalWarnings({ refusalOf: () => '' }, rows)).toEqual([]);
    expect(deliveryRefusalWarnings({ refusalOf: () => 42 as unknown as string }, rows)).toEqual([]);
  });

  it('stores the message as delivery stores a row error (secret shapes redacted), cut to a warning', () => {
    const [redacted] = deliveryRefusalWarnings({ refusalOf: () => 'refused: Bearer abc.def' }, [row(1, valid)]);
    expect(redacted).toBe('delivery_would_refuse:1:refused: Bearer [redacted]');
    const [long] = deliveryRefusalWarnings({ refusalOf: () => `${'x'.repeat(MAX_WARNING_LENGTH - 'delivery_would_refuse:9999:'.length - 1)}😀😀` }, [row(9_999, valid)]);
    expect(long).toHaveLength(MAX_WARNING_LENGTH);
    // The cut falls inside a surrogate pair: the lone half (which the run's json column would refuse) is replaced.
    expect(long.endsWith('x\uFFFD')).toBe(true);
  });
});
