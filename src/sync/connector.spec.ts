import { retryDelayMs, rowReference } from './connector';

describe('delivery retries', () => {
  it('doubles from the base with ±20 % jitter, at most an hour', () => {
    expect(retryDelayMs(1, 30_000, undefined, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(2, 30_000, undefined, () => 0.5)).toBe(60_000);
    expect(retryDelayMs(3, 30_000, undefined, () => 0)).toBe(96_000);
    expect(retryDelayMs(3, 30_000, undefined, () => 1)).toBe(144_000);
    expect(retryDelayMs(20, 30_000, undefined, () => 0.5)).toBe(3_600_000);
  });

  it('never retries before the Retry-After the system asked for', () => {
    expect(retryDelayMs(1, 1_000, 120, () => 0.5)).toBe(120_000);
    expect(retryDelayMs(8, 30_000, 5, () => 0.5)).toBe(3_600_000);
  });

  it('gives every row a stable reference', () => {
    expect(rowReference('3f2b0c1e-0000-4000-8000-000000000001', 7)).toBe('meander:3f2b0c1e-0000-4000-8000-000000000001:7');
  });
});
