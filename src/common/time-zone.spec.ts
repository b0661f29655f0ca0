import { canonicalTimeZone, isTimeZone } from './time-zone';

describe('canonicalTimeZone', () => {
  it('names IANA zones and their aliases canonically, whatever their case', () => {
    const named = ['Europe/Oslo', 'europe/oslo', 'UTC', 'utc', 'Etc/GMT+5', 'America/Argentina/ComodRivadavia'].map((zone) => canonicalTimeZone(zone));
    expect(named).toEqual(['Europe/Oslo', 'Europe/Oslo', 'UTC', 'UTC', 'Etc/GMT+5', expect.stringMatching(/^America\//)]);
  });

  // Node 22's Intl takes offsets, Node 20's does not: refused on both (CI runs this spec on each).
  it('refuses UTC offsets, unknown names and what is no name at all', () => {
    for (const zone of ['+05:30', '-08:00', '+0530', '05:30', 'Mars/Olympus', 'Europe/Olso', ' Europe/Oslo', '', 'x'.repeat(65), null, 1, {}]) {
      expect({ zone, name: canonicalTimeZone(zone) }).toEqual({ zone, name: null });
    }
  });
});

describe('isTimeZone', () => {
  it('accepts IANA names and their aliases that Intl.DateTimeFormat knows, and nothing else (no UTC offset, which only Node 22 knows)', () => {
    for (const zone of ['Europe/Oslo', 'UTC', 'Etc/UTC', 'GMT', 'Asia/Calcutta', 'europe/oslo', 'Australia/Lord_Howe'])
      expect({ zone, ok: isTimeZone(zone) }).toEqual({ zone, ok: true });
    for (const zone of ['Europe/Olso', '', ' Europe/Oslo', 'Mars/Olympus', '+05:30', '-08:00', 'x'.repeat(10_000), null, 1, {}]) {
      expect({ zone, ok: isTimeZone(zone) }).toEqual({ zone, ok: false });
    }
  });
});

describe('canonicalTimeZone, judged once per name', () => {
  it('builds no formatter for a name it has judged before (schedules ask for every config they queue)', () => {
    const built = jest.spyOn(Intl, 'DateTimeFormat');
    try {
      const name = 'america/Argentina/Buenos_Aires';
      const first = canonicalTimeZone(name);
      const calls = built.mock.calls.length;
      expect([canonicalTimeZone(name), canonicalTimeZone(name)]).toEqual([first, first]);
      expect(built.mock.calls.length).toBe(calls);
      expect(canonicalTimeZone('Mars/Olympus2')).toBeNull();
      const refusedCalls = built.mock.calls.length;
      expect(canonicalTimeZone('Mars/Olympus2')).toBeNull();
      expect(built.mock.calls.length).toBe(refusedCalls);
    } finally {
      built.mockRestore();
    }
  });
});
