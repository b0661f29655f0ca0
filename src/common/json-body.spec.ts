import { jsonBodyViolations, MAX_JSON_DEPTH, storableText } from './json-body';

/** `containers` arrays and objects, one inside the other, around a string. */
const nested = (containers: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < containers; i++) value = i % 2 ? [value] : { a: value };
  return value;
};

describe('jsonBodyViolations', () => {
  it('accepts ordinary JSON, surrogate pairs included', () => {
    expect(jsonBodyViolations({ name: 'Åse ✈ 😀', n: 1e308, list: [1, 'two', null, { deep: true }], constructorName: 'x' })).toEqual([]);
    expect(jsonBodyViolations(nested(MAX_JSON_DEPTH))).toEqual([]);
  });

  it('refuses NUL and unpaired surrogates in values and keys, at their field', () => {
    const body = JSON.parse('{"a":"x\\u0000y","b":{"c":["ok","\\ud800"]},"d":"\\udc00z","k\\u0000":1,"e":"\\ud83d\\ude00"}');
    const found = jsonBodyViolations(body);
    expect(found.map((e) => e.field).sort()).toEqual(['"k\\u0000"', 'a', 'b.c[1]', 'd']);
    expect(found.every((e) => e.rule === 'text_must_be_valid_unicode' && e.message.includes('NUL'))).toBe(true);
  });

  it('refuses numbers JSON.parse read as Infinity', () => {
    expect(jsonBodyViolations(JSON.parse('{"n":1e309,"m":[-1e400]}'))).toEqual([
      { field: 'n', rule: 'number_must_be_finite', message: expect.any(String) },
      { field: 'm[0]', rule: 'number_must_be_finite', message: expect.any(String) },
    ]);
  });

  it('refuses own prototype keys at every depth', () => {
    const body = JSON.parse('{"__proto__":{},"x":{"constructor":1,"y":[{"prototype":2}]}}');
    expect(jsonBodyViolations(body).map((e) => [e.field, e.rule])).toEqual([
      ['__proto__', 'unknown_field'],
      ['x.constructor', 'unknown_field'],
      ['x.y[0].prototype', 'unknown_field'],
    ]);
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels without recursing (3,000 and 100,000 levels)`, () => {
    expect(jsonBodyViolations(nested(MAX_JSON_DEPTH + 1))).toEqual([{ field: expect.any(String), rule: 'body_nesting_within_bounds', message: expect.any(String) }]);
    for (const levels of [3_000, 100_000]) {
      const text = '['.repeat(levels) + ']'.repeat(levels);
      expect(jsonBodyViolations(JSON.parse(text)).map((e) => e.rule)).toEqual(['body_nesting_within_bounds']);
    }
  });

  it('walks a flat array of millions of items (a 10 MB body) without overflowing the stack', () => {
    const items = new Array(3_000_000).fill(0);
    items[2_999_999] = '\u0000';
    expect(jsonBodyViolations({ records: items }).map((e) => e.field)).toEqual(['records[2999999]']);
  });

  it('reports at most 20 fields', () => {
    expect(jsonBodyViolations(Array.from({ length: 1000 }, () => '\u0000'))).toHaveLength(20);
  });
});

describe('storableText', () => {
  it('writes U+FFFD for NUL and each unpaired surrogate, keeps pairs, and returns ordinary text as it was', () => {
    expect(storableText('a\u0000b\uD800c\uDC00d\uD83D\uDE00')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uD83D\uDE00');
    expect(storableText('\uDC00\uD800')).toBe('\uFFFD\uFFFD');
    expect(jsonBodyViolations(storableText('\u0000\uD800'))).toEqual([]);
  });
});
