import type { SyncFrequency } from '../integration-config/integration-config.entity';
import { nextSlot } from './sync-schedule';

const at = (iso: string) => new Date(iso);
const slot = (frequency: SyncFrequency, now: string, zone?: string) => nextSlot(frequency, at(now), zone)?.toISOString();

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
    expect(slot('daily', '2026-12-04T00:00:00Z')).toBe('2026-12-05T00:00:00.000Z');
    expect(slot('monthly', '2027-01-01T00:00:00Z')).toBe('2027-02-01T00:00:00.000Z');
    expect(slot('hourly', '2026-12-03T10:59:59.999Z')).toBe('2026-12-03T11:00:00.000Z');
  });

  it("counts the boundaries in the config's time zone", () => {
    const now = at('2026-12-03T23:30:00Z'); // already Friday 00:30 in Oslo (UTC+1)
    expect(nextSlot('daily', now, 'Europe/Oslo')?.toISOString()).toBe('2026-12-04T23:00:00.000Z');
    expect(nextSlot('hourly', at('2026-12-03T10:15:00Z'), 'Asia/Kolkata')?.toISOString()).toBe('2026-12-03T10:30:00.000Z');
    expect(nextSlot('monthly', now, 'Europe/Oslo')?.toISOString()).toBe('2026-12-31T23:00:00.000Z');
    expect(slot('weekly', '2026-12-03T10:00:00Z', 'America/New_York')).toBe('2026-12-07T05:00:00.000Z');
    // A zone's alias and a name in other case are the zone.
    expect(slot('daily', '2026-12-03T10:00:00Z', 'Etc/UTC')).toBe('2026-12-04T00:00:00.000Z');
    expect(slot('daily', '2026-12-03T10:00:00Z', 'europe/oslo')).toBe('2026-12-03T23:00:00.000Z');
  });

  it('keeps local midnight across a DST change, and takes an unknown zone as UTC', () => {
    // Oslo goes to summer time on 2027-03-28: midnight of the 29th is 22:00 UTC on the 28th.
    expect(nextSlot('daily', at('2027-03-28T10:00:00Z'), 'Europe/Oslo')?.toISOString()).toBe('2027-03-28T22:00:00.000Z');
    expect(nextSlot('daily', at('2027-03-27T10:00:00Z'), 'Europe/Oslo')?.toISOString()).toBe('2027-03-27T23:00:00.000Z');
    expect(nextSlot('daily', at('2026-12-03T10:00:00Z'), 'Mars/Olympus')?.toISOString()).toBe('2026-12-04T00:00:00.000Z');
    expect(slot('daily', '2026-12-03T10:00:00Z', 'Europe/Olso')).toBe('2026-12-04T00:00:00.000Z');
  });

  it('starts a day whose midnight does not exist at its first instant, never before now', () => {
    // Santiago: 2026-09-06 begins at 01:00 -03 (04:00 UTC); 23:59:59 -04 is the instant before.
    expect(slot('daily', '2026-09-05T12:00:00Z', 'America/Santiago')).toBe('2026-09-06T04:00:00.000Z');
    expect(slot('daily', '2026-09-06T03:30:00Z', 'America/Santiago')).toBe('2026-09-06T04:00:00.000Z');
    expect(slot('daily', '2026-09-06T04:00:00Z', 'America/Santiago')).toBe('2026-09-07T03:00:00.000Z');
    // Havana: 2026-03-08 begins at 01:00 -04 (05:00 UTC).
    expect(slot('daily', '2026-03-07T12:00:00Z', 'America/Havana')).toBe('2026-03-08T05:00:00.000Z');
    expect(slot('daily', '2026-03-08T04:30:00Z', 'America/Havana')).toBe('2026-03-08T05:00:00.000Z');
    // A Monday (Tehran, 2021-03-22) and a first of the month (Asunción, 2023-10-01) that begin at 01:00.
    expect(slot('weekly', '2021-03-18T12:00:00Z', 'Asia/Tehran')).toBe('2021-03-21T20:30:00.000Z');
    expect(slot('monthly', '2023-09-15T12:00:00Z', 'America/Asuncion')).toBe('2023-10-01T04:00:00.000Z');
    expect(slot('monthly', '2023-10-01T03:59:59Z', 'America/Asuncion')).toBe('2023-10-01T04:00:00.000Z');
  });

  it('starts a day once when the clock reads its midnight twice', () => {
    // Havana goes back from 01:00 -04 to 00:00 -05 on 2026-11-01: midnight at 04:00 and 05:00 UTC.
    expect(slot('daily', '2026-11-01T03:30:00Z', 'America/Havana')).toBe('2026-11-01T04:00:00.000Z');
    expect(slot('daily', '2026-11-01T04:30:00Z', 'America/Havana')).toBe('2026-11-02T05:00:00.000Z');
    // The hour, though, is read twice: both are tops of the hour.
    expect(slot('hourly', '2026-11-01T04:30:00Z', 'America/Havana')).toBe('2026-11-01T05:00:00.000Z');
  });

  it('has a slot at each top of the repeated hour of autumn', () => {
    // Oslo 2026-10-25: 02:59:59 CEST, then 02:00 CET at 01:00 UTC.
    expect(slot('hourly', '2026-10-25T00:10:00Z', 'Europe/Oslo')).toBe('2026-10-25T01:00:00.000Z');
    expect(slot('hourly', '2026-10-25T00:00:00Z', 'Europe/Oslo')).toBe('2026-10-25T01:00:00.000Z');
    expect(slot('hourly', '2026-10-25T01:00:00Z', 'Europe/Oslo')).toBe('2026-10-25T02:00:00.000Z');
    // New York 2026-11-01: 01:59:59 EDT, then 01:00 EST at 06:00 UTC.
    expect(slot('hourly', '2026-11-01T05:30:00Z', 'America/New_York')).toBe('2026-11-01T06:00:00.000Z');
    expect(slot('hourly', '2026-11-01T06:00:00Z', 'America/New_York')).toBe('2026-11-01T07:00:00.000Z');
    // Lord Howe goes back half an hour, 02:00 +11 to 01:30 +10:30: 02:00 is read once, at 15:30 UTC.
    expect(slot('hourly', '2026-04-04T14:40:00Z', 'Australia/Lord_Howe')).toBe('2026-04-04T15:30:00.000Z');
    // Troll goes back two hours, 03:00 +02 to 01:00 +00: from 02:30, the next top is 01:00.
    expect(slot('hourly', '2026-10-25T00:30:00Z', 'Antarctica/Troll')).toBe('2026-10-25T01:00:00.000Z');
    expect(slot('hourly', '2026-10-25T01:00:00Z', 'Antarctica/Troll')).toBe('2026-10-25T02:00:00.000Z');
  });

  it('has a slot where the clock skips a top of the hour, at the first instant after it', () => {
    // Lord Howe 2026-10-04: 01:59:59 +10:30, then 02:30 +11 (15:30 UTC), then 03:00 (16:00 UTC).
    expect(slot('hourly', '2026-10-03T15:10:00Z', 'Australia/Lord_Howe')).toBe('2026-10-03T15:30:00.000Z');
    expect(slot('hourly', '2026-10-03T15:30:00Z', 'Australia/Lord_Howe')).toBe('2026-10-03T16:00:00.000Z');
    // Oslo 2027-03-28: 01:59:59 CET, then 03:00 CEST (01:00 UTC).
    expect(slot('hourly', '2027-03-28T00:30:00Z', 'Europe/Oslo')).toBe('2027-03-28T01:00:00.000Z');
    // Troll 2026-03-29: 00:59:59 +00, then 03:00 +02 (01:00 UTC): the tops of 01:00 and 02:00 make one slot.
    expect(slot('hourly', '2026-03-29T00:30:00Z', 'Antarctica/Troll')).toBe('2026-03-29T01:00:00.000Z');
    expect(slot('hourly', '2026-03-29T01:00:00Z', 'Antarctica/Troll')).toBe('2026-03-29T02:00:00.000Z');
  });

  describe('over a year of hourly nows, in zones with odd DST changes', () => {
    const MINUTE = 60_000;
    const HOUR = 60 * MINUTE;
    const DAY = 24 * HOUR;
    const from = Date.UTC(2026, 0, 1);
    const to = Date.UTC(2027, 0, 1);

    /** The zone's offset, read off Intl's `longOffset` name (not how nextSlot reads it). */
    function offsetOf(zone: string): (instant: number) => number {
      const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
      return (instant) => {
        const name = format.formatToParts(instant).find((p) => p.type === 'timeZoneName')!.value; // GMT, GMT+05:30, GMT-03:00
        const [, sign, hours, minutes] = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(name)!;
        return sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(hours) * HOUR + Number(minutes) * MINUTE);
      };
    }

    /**
     * Every boundary from `from` to 40 days past `to`, found minute by minute: a top of the hour
     * is a minute at which the clock reads one, or at which it jumps forward over one; a period
     * (day, ISO week, month) starts at the first minute at which the clock reads a date in it.
     */
    function boundaries(zone: string): Record<Exclude<SyncFrequency, 'manual' | 'realtime'>, number[]> {
      const offsetAt = offsetOf(zone);
      const first = from - DAY;
      const last = to + 40 * DAY;
      // The offset's changes: hour by hour, then to the minute.
      const changes: { at: number; offset: number }[] = [];
      for (let hour = first + HOUR, before = offsetAt(first); hour <= last; hour += HOUR) {
        const offset = offsetAt(hour);
        if (offset === before) continue;
        let m = hour - HOUR + MINUTE;
        while (offsetAt(m) === before) m += MINUTE;
        changes.push({ at: m, offset });
        before = offset;
      }
      const found = { hourly: [] as number[], daily: [] as number[], weekly: [] as number[], monthly: [] as number[] };
      let offset = offsetAt(first);
      let next = 0; // the next change
      let latestDay = Math.floor((first + offset) / DAY);
      let latestWeek = Math.floor((latestDay + 3) / 7); // 1970-01-01 was a Thursday
      let latestMonth = monthOf(latestDay);
      for (let m = first + MINUTE; m <= last; m += MINUTE) {
        const previous = offset;
        if (next < changes.length && changes[next].at === m) offset = changes[next++].offset;
        const wall = m + offset;
        // The clock reads a top of the hour, or jumps forward over one.
        if (wall % HOUR === 0 || (offset > previous && Math.ceil((m + previous) / HOUR) * HOUR < wall)) found.hourly.push(m);
        const day = Math.floor(wall / DAY);
        if (day <= latestDay) continue;
        latestDay = day;
        found.daily.push(m);
        if (Math.floor((day + 3) / 7) > latestWeek) {
          latestWeek = Math.floor((day + 3) / 7);
          found.weekly.push(m);
        }
        if (monthOf(day) > latestMonth) {
          latestMonth = monthOf(day);
          found.monthly.push(m);
        }
      }
      return found;
    }

    function monthOf(day: number): number {
      const date = new Date(day * DAY);
      return date.getUTCFullYear() * 12 + date.getUTCMonth();
    }

    it.each(['Europe/Oslo', 'America/Santiago', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'America/Havana'])(
      '%s: each slot is after now, a boundary, and the first one',
      (zone) => {
        const all = boundaries(zone);
        const problems: string[] = [];
        for (const frequency of ['hourly', 'daily', 'weekly', 'monthly'] as const) {
          const list = all[frequency];
          const set = new Set(list);
          let i = 0;
          // Every hour of the year, at :00, :15, :30 and :45 in turn (tops of the hour in zones a half
          // hour off); weekly and monthly every fifth of those (nextSlot costs some 25µs a call).
          for (let now = from, n = 0; now < to; now += HOUR + (n % 4 === 3 ? -3 : 1) * 15 * MINUTE, n++) {
            while (list[i] <= now) i++;
            if ((frequency === 'weekly' || frequency === 'monthly') && n % 5 !== 0) continue;
            const got = nextSlot(frequency, new Date(now), zone)!.getTime();
            if (!(got > now) || !set.has(got) || got !== list[i]) {
              problems.push(`${frequency} at ${new Date(now).toISOString()}: ${new Date(got).toISOString()}, want ${new Date(list[i]).toISOString()}`);
            }
          }
        }
        expect(problems.slice(0, 10)).toEqual([]);
      },
    );
  });
});
