import { nextSlot } from './sync-schedule';

const at = (iso: string) => new Date(iso);

describe('nextSlot', () => {
  it('sends realtime now and manual never', () => {
    const now = at('2026-12-03T10:15:00Z');
    expect(nextSlot('realtime', now)).toEqual(now);
    expect(nextSlot('manual', now)).toBeNull();
  });

  it('waits for the next boundary of the schedule, in UTC by default', () => {
    const now = at('2026-12-03T10:15:30Z'); // a Thursday
    expect(nextSlot('hourly', now)?.toISOString()).toBe('2026-12-03T11:00:00.000Z');
    expect(nextSlot('daily', now)?.toISOString()).toBe('2026-12-04T00:00:00.000Z');
    expect(nextSlot('weekly', now)?.toISOString()).toBe('2026-12-07T00:00:00.000Z');
    expect(nextSlot('monthly', now)?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    // On the boundary itself, the next one.
    expect(nextSlot('hourly', at('2026-12-03T11:00:00Z'))?.toISOString()).toBe('2026-12-03T12:00:00.000Z');
    expect(nextSlot('weekly', at('2026-12-07T08:00:00Z'))?.toISOString()).toBe('2026-12-14T00:00:00.000Z');
  });

  it("counts the boundaries in the config's time zone", () => {
    const now = at('2026-12-03T23:30:00Z'); // already Friday 00:30 in Oslo (UTC+1)
    expect(nextSlot('daily', now, 'Europe/Oslo')?.toISOString()).toBe('2026-12-04T23:00:00.000Z');
    expect(nextSlot('hourly', at('2026-12-03T10:15:00Z'), 'Asia/Kolkata')?.toISOString()).toBe('2026-12-03T10:30:00.000Z');
    expect(nextSlot('monthly', now, 'Europe/Oslo')?.toISOString()).toBe('2026-12-31T23:00:00.000Z');
  });

  it('keeps local midnight across a DST change, and takes an unknown zone as UTC', () => {
    // Oslo goes to summer time on 2027-03-28: midnight of the 29th is 22:00 UTC on the 28th.
    expect(nextSlot('daily', at('2027-03-28T10:00:00Z'), 'Europe/Oslo')?.toISOString()).toBe('2027-03-28T22:00:00.000Z');
    expect(nextSlot('daily', at('2027-03-27T10:00:00Z'), 'Europe/Oslo')?.toISOString()).toBe('2027-03-27T23:00:00.000Z');
    expect(nextSlot('daily', at('2026-12-03T10:00:00Z'), 'Mars/Olympus')?.toISOString()).toBe('2026-12-04T00:00:00.000Z');
  });
});
