// Rounding half away from zero to a number of decimals: round() in formulas and number formats. Pure.

/**
 * Below this, |x| × 10^digits is nudged up by one part in 2^52 before it is rounded, which absorbs
 * binary representation (1.005 × 100 is 100.49999999999999, 0.7 × 1.15 is 0.8049999999999999).
 * From here on a double has no digit to spare below the units, and the nudge is a whole unit of
 * the last place (3e15 rounded to 3000000000000001): the decimal the number prints as is rounded instead.
 */
const NUDGE_BELOW = 1e15;

/** |abs| × 10^digits rounded half away from zero, as a whole number (beyond 2^53 not a safe one). */
export function scaledHalfAwayFromZero(abs: number, digits: number): number {
  const scaled = abs * 10 ** digits;
  if (scaled < NUDGE_BELOW) return Math.round(scaled * (1 + Number.EPSILON));
  return Math.round(shiftDecimal(abs, digits));
}

/** `value` rounded half away from zero to `digits` decimals (0 to 10). */
export function roundHalfAwayFromZero(value: number, digits: number): number {
  // Every double this large is a whole number already.
  if (Math.abs(value) >= 2 ** 52) return value;
  return Math.sign(value) * shiftDecimal(scaledHalfAwayFromZero(Math.abs(value), digits), -digits);
}

/** `x` × 10^places, exactly as a decimal: the shortest text of `x` with its exponent moved. */
function shiftDecimal(x: number, places: number): number {
  const [mantissa, exponent = '0'] = String(x).split('e');
  return Number(`${mantissa}e${Number(exponent) + places}`);
}
