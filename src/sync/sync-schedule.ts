// When a config's queued runs are sent. Pure: no Nest imports.
import type { SyncFrequency } from '../integration-config/integration-config.entity';

/**
 * When queued runs of a config with this schedule are next sent: `realtime` now, `manual` never
 * (only on POST …/sync), the others at the next top of the hour, midnight, Monday midnight or
 * first of the month, in `timeZone` (IANA; an unknown zone counts as UTC).
 */
export function nextSlot(frequency: SyncFrequency, now: Date, timeZone = 'UTC'): Date | null {
  if (frequency === 'manual') return null;
  if (frequency === 'realtime') return now;
  const zone = isTimeZone(timeZone) ? timeZone : 'UTC';
  const local = zonedParts(now, zone);
  switch (frequency) {
    case 'hourly':
      return fromZoned(zone, local.year, local.month, local.day, local.hour + 1);
    case 'daily':
      return fromZoned(zone, local.year, local.month, local.day + 1, 0);
    case 'weekly':
      // ISO weeks start on Monday: the next Monday's midnight, a week on when today is Monday.
      return fromZoned(zone, local.year, local.month, local.day + ((8 - local.isoWeekday) % 7 || 7), 0);
    case 'monthly':
      return fromZoned(zone, local.year, local.month + 1, 1, 0);
  }
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  isoWeekday: number;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function zonedParts(date: Date, timeZone: string): ZonedParts {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    weekday: 'short',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return {
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    hour: Number(get('hour')),
    minute: Number(get('minute')),
    second: Number(get('second')),
    isoWeekday: WEEKDAYS.indexOf(get('weekday')) + 1,
  };
}

/** How far the zone's wall clock is ahead of UTC at this instant. */
function offsetMs(date: Date, timeZone: string): number {
  const p = zonedParts(date, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(date.getTime() / 1000) * 1000;
}

/** The instant the zone's wall clock reads this (month 1-based; overflowing days and hours roll over). */
function fromZoned(timeZone: string, year: number, month: number, day: number, hour: number): Date {
  const wall = Date.UTC(year, month - 1, day, hour);
  const first = wall - offsetMs(new Date(wall), timeZone);
  // Near a DST change the offset at the result may differ from the guess's: take the one that holds there.
  const second = wall - offsetMs(new Date(first), timeZone);
  return new Date(second);
}
