// What an external system says about when to come back. Pure: no Nest imports.

/** The longest wait any answer can impose: a vendor's "come back in 10 years" must not park a run for good. */
export const MAX_RETRY_AFTER_SECONDS = 86_400;

/** A wait in seconds from a moment the system gave (epoch ms): at least 1, at most a day. */
export function secondsUntil(at: number, now: number): number {
  return Math.min(Math.max(1, Math.ceil((at - now) / 1000)), MAX_RETRY_AFTER_SECONDS);
}

/** `Retry-After` (RFC 9110: seconds or an HTTP date) as seconds, at least 1, at most a day; undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Math.min(Math.max(1, Number(text)), MAX_RETRY_AFTER_SECONDS);
  // An HTTP date names its day and month; Date.parse would read "-5" as the year -5.
  const at = /[A-Za-z]/.test(text) ? Date.parse(text) : NaN;
  return Number.isFinite(at) ? secondsUntil(at, now) : undefined;
}

/** A response header's value (node:http lower-cases names; a repeated header gives its first). */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
