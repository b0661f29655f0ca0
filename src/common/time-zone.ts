// Time zone names, as the date formats and the delivery schedules read them. Pure: no Nest imports.

/** The longest zone name taken (the longest IANA name has 32 characters). */
export const MAX_TIME_ZONE_LENGTH = 64;

/**
 * The name a zone canonically has (`europe/oslo` is `Europe/Oslo`), or null when it names none: the
 * runtime does not know it, or it is no IANA name. Node 22's Intl also takes UTC offsets
 * (`+05:30`), which Node 20's refuses and API.md does not name: refused on both, so instances of
 * either agree on what was written. Formatters are given the canonical name only: @date-fns/tz
 * keeps one (~30 KB) per name it is given, for good, and case variants of one zone are countless.
 */
export function canonicalTimeZone(zone: unknown): string | null {
  // IANA names and their aliases (UTC, GMT, Etc/GMT+5) begin with a letter; an offset with a sign or a digit.
  if (typeof zone !== 'string' || zone.length === 0 || zone.length > MAX_TIME_ZONE_LENGTH || !/^[A-Za-z]/.test(zone)) return null;
  try {
    return new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}
