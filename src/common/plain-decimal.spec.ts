import { jsonWithPlainNumbers, plainDecimal } from './plain-decimal';

describe('plain decimal text', () => {
  it('writes out the exponent JavaScript would use, small and large, keeping every digit', () => {
    expect(plainDecimal(1e-7)).toBe('0.0000001');
    expect(plainDecimal(-1.5e-7)).toBe('-0.00000015');
    expect(plainDecimal(1.2345e-10)).toBe('0.00000000012345');
    expect(plainDecimal(1e21)).toBe('1000000000000000000000');
    expect(plainDecimal(-1.5e21)).toBe('-1500000000000000000000');
    expect(plainDecimal(1.2345678901234566e25)).toBe('12345678901234566000000000');
    expect(plainDecimal(Number.MIN_VALUE)).toBe(`0.${'0'.repeat(323)}5`);
    for (const value of [1e-7, -1.5e-7, 1.2345e-10, 1e21, -1.5e21, 1.2345678901234566e25, Number.MIN_VALUE, Number.MAX_VALUE]) expect(Number(plainDecimal(value))).toBe(value);
  });

  it('leaves what JavaScript writes plainly as it is', () => {
    expect([0, -0, 120.5, -3, 0.000001, 1e20, 0.1 + 0.2].map(plainDecimal)).toEqual(['0', '0', '120.5', '-3', '0.000001', '100000000000000000000', '0.30000000000000004']);
    for (const value of [NaN, Infinity, -Infinity]) expect(plainDecimal(value)).toBeNull();
  });

  it('writes JSON as JSON.stringify does, numbers in plain decimal form', () => {
    const value = { a: 1e-7, b: [1e21, 'x', null, undefined, () => 1], c: { d: true, e: undefined, f: NaN }, g: '1e-7', h: new Date(0) };
    expect(jsonWithPlainNumbers(value)).toBe('{"a":0.0000001,"b":[1000000000000000000000,"x",null,null,null],"c":{"d":true,"f":null},"g":"1e-7","h":"1970-01-01T00:00:00.000Z"}');
    expect(JSON.parse(jsonWithPlainNumbers(value)!)).toEqual(JSON.parse(JSON.stringify(value)));
    const plain = { query: 'q', variables: { inputs: [{ clientId: '0', node: { amount: '1', n: 2 } }] }, '"quoted"\n': 'é\u2028' };
    expect(jsonWithPlainNumbers(plain)).toBe(JSON.stringify(plain));
    expect(jsonWithPlainNumbers(undefined)).toBeUndefined();
  });
});
