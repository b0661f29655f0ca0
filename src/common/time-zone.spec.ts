import { canonicalTimeZone } from './time-zone';

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
