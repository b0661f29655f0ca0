// Calendar dates (yyyy-MM-dd) as UTC midnights. Pure: no Nest imports.

/**
 * The UTC midnight of year-month-day (month 1–12), or null when there is no such day (2026-02-30)
 * or the year is outside 0001–9999, the four-digit years of ISO 8601 (year 0000 would print as 0001 BC).
 */
export function utcCalendarDate(year: number, month: number, day: number): Date | null {
  if (!Number.isInteger(year) || year < 1 || year > 9999) return null;
  // Date.UTC(y, …) and new Date(y, …) read a year 0–99 as 1900–1999; setUTCFullYear takes it as it is.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day ? date : null;
}
