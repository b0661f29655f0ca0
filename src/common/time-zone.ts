// Time zone names, as the date formats and the delivery schedules read them. Pure: no Nest imports.

/** The longest zone name taken (the longest IANA name has 32 characters). */
export const MAX_TIME_ZONE_LENGTH = 64;

/** Names already judged: building an Intl.DateTimeFormat is the costly part. Bounded, as names are anyone's to send. */
const judged = new Map<string, string | null>();
const MAX_JUDGED = 1000;

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
  let name = judged.get(zone);
  if (name === undefined) {
    try {
      name = new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
    } catch {
      name = null;
    }
    if (judged.size >= MAX_JUDGED) judged.clear();
    judged.set(zone, name);
  }
  return name;
}

/** Whether the name is a time zone this runtime knows by an IANA name (or an alias of one, `UTC`). */
export function isTimeZone(zone: unknown): zone is string {
  return canonicalTimeZone(zone) !== null;
}
