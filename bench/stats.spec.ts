import { median, percentile } from './stats';

describe('bench statistics', () => {
  it('takes the p99 by nearest rank, in the values’ own resolution', () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i + 1) / 100); // 0.01 … 10.00 ms
    expect(percentile(values, 0.99)).toBe(9.9);
    expect(percentile([...values].reverse(), 0.99)).toBe(9.9);
    expect(percentile([3.2, 3.4], 0.99)).toBe(3.4);
    expect(percentile([4.25], 0.5)).toBe(4.25);
    expect(percentile([], 0.99)).toBeNaN();
  });

  it('takes the median of an odd or even number of rounds', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
