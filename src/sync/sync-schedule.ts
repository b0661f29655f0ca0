// When a config's queued runs are sent. Pure: no Nest imports.
import { canonicalTimeZone } from '../common/time-zone';
import type { SyncFrequency } from '../integration-config/integration-config.entity';

/**
 * When queued runs of a config with this schedule are next sent: `realtime` now, `manual` never
 * (only on POST …/sync), the others at the first instant after `now` that is a top of the hour,
 * the start of a day, of a Monday or of the first of the month, in `timeZone` (IANA; an unknown
 * zone counts as UTC). Across DST changes: an hour whose top the clock reads twice (the repeated
 * hour of autumn) has two slots; a day starts at the first instant whose date it is, so at the
 * first instant after a midnight that does not exist (and once only, however often the clock
 * reads midnight); a top of the hour that does not exist is the first instant after it.
 */
export function nextSlot(frequency: SyncFrequency, now: Date, timeZone = 'UTC'): Date | null {
  if (frequency === 'manual') return null;
  if (frequency === 'realtime') return now;
  const zone = canonicalTimeZone(timeZone) ?? 'UTC';
  const at = now.getTime();
  const local = zonedParts(at, zone);
  if (frequency === 'hourly') return new Date(nextTopOfHour(zone, at, local));
  // The period `now` is in began at or before `now` (a DST change moves the clock back a few hours
  // at most, never over a whole day): the next one begins after it, unless the clock went back over
  // its start since (then the one after).
  const start = PERIOD_START[frequency];
  const next = firstInstant(zone, start(local, 1));
  return new Date(next > at ? next : firstInstant(zone, start(local, 2)));
}

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The wall-clock start (a Date.UTC of the local fields; overflowing fields roll over) of the `k`th period after the one `local` is in. */
const PERIOD_START: Record<'daily' | 'weekly' | 'monthly', (local: ZonedParts, k: number) => number> = {
  daily: (l, k) => Date.UTC(l.year, l.month - 1, l.day + k),
  // ISO weeks start on Monday.
  weekly: (l, k) => Date.UTC(l.year, l.month - 1, l.day - (l.isoWeekday - 1) + 7 * k),
  monthly: (l, k) => Date.UTC(l.year, l.month - 1 + k, 1),
};

function nextTopOfHour(zone: string, at: number, local: ZonedParts): number {
  const hour = Date.UTC(local.year, local.month - 1, local.day, local.hour);
  // Mostly the clock runs on at the same offset to the next top of the hour: no change within the
  // hour (a zone changes its offset weeks apart), so nothing between.
  const offset = wallTime(local) - Math.floor(at / SECOND) * SECOND;
  const plain = hour + HOUR - offset;
  if (offsetMs(plain, zone) === offset) return plain;
  // A change within the hour: the clock may go back over a top it read (the next slot is that top,
  // read again) or skip one. The clock moves by at most a few hours: look at each top from two
  // hours back to the next one (whose instant is always after now).
  let next = Infinity;
  for (let k = -2; k <= 1; k++) {
    for (const instant of instantsReading(zone, hour + k * HOUR)) if (instant > at && instant < next) next = instant;
  }
  return next;
}

/** The first instant at which the zone's clock reads `wall` or later: where a DST change skips `wall`, the first instant after the skip. */
function firstInstant(zone: string, wall: number): number {
  return instantsReading(zone, wall)[0];
}

/**
 * The instants, in order, at which the zone's clock reads `wall` (a Date.UTC of the local fields):
 * one, or two when a DST change repeats it; when one skips it, the first instant after the skip.
 */
function instantsReading(zone: string, wall: number): number[] {
  // The instants reading `wall` are within 14 hours of it. The zone's offsets before and after
  // that (a zone changes its offset weeks apart, so there is one change at most in between).
  const before = offsetMs(wall - 2 * DAY, zone);
  const after = offsetMs(wall + 2 * DAY, zone);
  if (before === after) return [wall - before];
  const instants = [wall - before, wall - after].filter((instant) => offsetMs(instant, zone) === wall - instant).sort((a, b) => a - b);
  if (instants.length > 0) return instants;
  // Skipped: the clock reads before `wall` up to the change and after it from then on. Find the
  // change (changes fall on whole seconds) between the instants `wall` would be at either offset.
  let reads = Math.ceil((wall - Math.min(before, after)) / SECOND) * SECOND; // after `wall`
  let readsEarlier = Math.floor((wall - Math.max(before, after)) / SECOND) * SECOND; // before `wall`
  while (reads - readsEarlier > SECOND) {
    const mid = readsEarlier + Math.floor((reads - readsEarlier) / 2 / SECOND) * SECOND;
    if (mid + offsetMs(mid, zone) > wall) reads = mid;
    else readsEarlier = mid;
  }
  return [reads];
}

interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 1 for Monday … 7 for Sunday. */
  isoWeekday: number;
}

/** One formatter per zone name (building one is the costly part). A few hundred zones exist; the cache is bounded anyway. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= 1000) formatters.clear();
    formatters.set(timeZone, format);
  }
  return format;
}

function zonedParts(instant: number, timeZone: string): ZonedParts {
  const fields: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const { type, value } of formatter(timeZone).formatToParts(instant)) fields[type] = Number(value);
  const { year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0 } = fields;
  return { year, month, day, hour, minute, second, isoWeekday: ((new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7) + 1 };
}

function wallTime(p: ZonedParts): number {
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
}

/** How far the zone's wall clock is ahead of UTC at this instant. */
function offsetMs(instant: number, timeZone: string): number {
  return wallTime(zonedParts(instant, timeZone)) - Math.floor(instant / SECOND) * SECOND;
}
