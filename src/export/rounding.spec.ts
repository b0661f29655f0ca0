import fc from 'fast-check';
import { roundHalfAwayFromZero, scaledHalfAwayFromZero } from './rounding';

/** The decimal `units / 10^scale` rounded half away from zero to `digits` places, exactly (BigInt), as a number. */
function exactly(units: bigint, scale: number, digits: number): number {
  const negative = units < 0n;
  let magnitude = negative ? -units : units;
  if (digits < scale) {
    const divisor = 10n ** BigInt(scale - digits);
    magnitude = (magnitude + divisor / 2n) / divisor;
  } else magnitude *= 10n ** BigInt(digits - scale);
  return (negative ? -1 : 1) * Number(`${magnitude}e-${digits}`);
}

describe('rounding half away from zero', () => {
  it('property: equals exact decimal rounding of any number written with up to 15 significant digits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n) + 1n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 10 }), (units, scale, digits) => {
        const value = Number(`${units}e-${scale}`);
        // + 0: -0 and 0 are one number here.
        expect(roundHalfAwayFromZero(value, digits) + 0).toBe(exactly(units, scale, digits) + 0);
      }),
      { numRuns: 20_000 },
    );
  });

  it('property: leaves whole numbers whole at every magnitude, and the scaled value is a whole number', () => {
    fc.assert(
      fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 10 }), (n, digits) => {
        expect(roundHalfAwayFromZero(n, digits)).toBe(n);
        if (Math.abs(n) * 10 ** digits <= Number.MAX_SAFE_INTEGER) expect(scaledHalfAwayFromZero(Math.abs(n), digits)).toBe(Math.abs(n) * 10 ** digits);
      }),
      { numRuns: 20_000 },
    );
  });
});
