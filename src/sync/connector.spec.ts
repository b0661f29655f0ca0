import { IntegrationTypeRegistry } from '../integration-types/integration-type.registry';
import { DeliveryFailure, outcomesForEveryRow, retryDelayMs, rowReference, type Connector, type RowOutcome } from './connector';
import { ConnectorRegistry } from './connector.registry';

describe('delivery retries', () => {
  it('doubles from the base with ±20 % jitter, at most an hour', () => {
    expect(retryDelayMs(1, 30_000, undefined, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(2, 30_000, undefined, () => 0.5)).toBe(60_000);
    expect(retryDelayMs(3, 30_000, undefined, () => 0)).toBe(96_000);
    expect(retryDelayMs(3, 30_000, undefined, () => 1)).toBe(144_000);
    expect(retryDelayMs(20, 30_000, undefined, () => 0.5)).toBe(3_600_000);
    // The hour holds after the jitter too (API.md: at most 1 hour); near it, the jitter only shortens.
    expect(retryDelayMs(20, 30_000, undefined, () => 1)).toBe(3_600_000);
    expect(retryDelayMs(20, 30_000, undefined, () => 0)).toBe(2_880_000);
  });

  it('never retries before the Retry-After the system asked for', () => {
    expect(retryDelayMs(1, 1_000, 120, () => 0.5)).toBe(120_000);
    expect(retryDelayMs(8, 30_000, 5, () => 0.5)).toBe(3_600_000);
    // A vendor may ask for longer than the hour: it is honoured.
    expect(retryDelayMs(8, 30_000, 7_200, () => 1)).toBe(7_200_000);
  });

  it('gives every row a stable reference', () => {
    expect(rowReference('3f2b0c1e-0000-4000-8000-000000000001', 7)).toBe('meander:3f2b0c1e-0000-4000-8000-000000000001:7');
  });
});

describe("a connector's outcomes for a batch", () => {
  const rows = [0, 1, 2].map((index) => ({ index, reference: `meander:run:${index}`, output: {} }));
  const delivered = (index: number): RowOutcome => ({ index, status: 'delivered', externalId: `X-${index}` });

  it('passes one outcome per row sent, whatever their order', () => {
    const outcomes = [delivered(2), { index: 0, status: 'failed', error: 'refused' } as RowOutcome, delivered(1)];
    expect(outcomesForEveryRow('xledger', rows, outcomes)).toEqual(outcomes);
  });

  it('drops outcomes for rows not sent and repeats: they would settle rows never sent', () => {
    expect(outcomesForEveryRow('xledger', rows, [delivered(0), delivered(7), delivered(1), delivered(2), { index: 1, status: 'failed', error: 'late' }])).toEqual([
      delivered(0),
      delivered(1),
      delivered(2),
    ]);
  });

  it('fails the batch as retryable when a row has no outcome, keeping the answered ones', () => {
    let thrown: unknown;
    try {
      outcomesForEveryRow('host-erp', rows, [delivered(0), delivered(2), delivered(9)]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DeliveryFailure);
    expect(thrown).toMatchObject({ kind: 'retryable', message: 'The host-erp connector answered for 2 of the 3 rows it was sent', answered: [delivered(0), delivered(2)] });
  });
});

describe('the connector registry', () => {
  const connector = (integrationType: string): Connector => ({ integrationType, maxBatchSize: 1, deliver: async () => [] });

  it("refuses at start-up a host's connector for a type not registered, saying what to add", () => {
    expect(() => new ConnectorRegistry(new IntegrationTypeRegistry(), [connector('host_ledger')])).toThrow(
      'a connector for integration type "host_ledger", which is not registered: add its definition to integrationTypes',
    );
  });

  it("takes a host's connector over the built-in one of its type, and refuses two for one type", () => {
    const own = connector('xledger');
    expect(new ConnectorRegistry(new IntegrationTypeRegistry(), [own], [connector('xledger')]).find('xledger')).toBe(own);
    expect(() => new ConnectorRegistry(new IntegrationTypeRegistry(), [own, connector('xledger')])).toThrow('two connectors for integration type xledger');
  });
});
