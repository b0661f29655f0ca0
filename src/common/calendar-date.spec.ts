import { utcCalendarDate } from './calendar-date';

describe('calendar dates', () => {
  it('takes years 0001–0099 as they are, not as 1900–1999', () => {
    expect(utcCalendarDate(1, 1, 1)?.toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(utcCalendarDate(99, 12, 31)?.toISOString()).toBe('0099-12-31T00:00:00.000Z');
    // 0096 is a leap year, 0100 is not.
    expect(utcCalendarDate(96, 2, 29)?.toISOString()).toBe('0096-02-29T00:00:00.000Z');
    expect(utcCalendarDate(100, 2, 29)).toBeNull();
    expect(utcCalendarDate(2026, 11, 20)?.toISOString()).toBe('2026-11-20T00:00:00.000Z');
  });

  it('refuses a day that does not exist, and years outside 0001–9999', () => {
    for (const [y, m, d] of [
      [2026, 2, 29],
      [2026, 13, 1],
      [2026, 0, 1],
      [2026, 4, 31],
      [0, 1, 1],
      [10000, 1, 1],
      [2026.5, 1, 1],
    ]) {
      expect(utcCalendarDate(y, m, d)).toBeNull();
    }
  });
});
