import { assertIfMatch, etagFor, isNotModified } from './if-match';

describe('entity tags', () => {
  it('If-None-Match: not modified when a listed tag (weakly compared) or * names the current revision', () => {
    expect(isNotModified(undefined, 3)).toBe(false);
    for (const header of ['"3"', 'W/"3"', '"1", "3"', ' * ']) expect([header, isNotModified(header, 3)]).toEqual([header, true]);
    for (const header of ['"2"', '3', '"33"', '']) expect([header, isNotModified(header, 3)]).toEqual([header, false]);
  });

  it('If-Match: passes when absent, * or matching strongly; else 412 precondition_failed', () => {
    expect(etagFor(3)).toBe('"3"');
    for (const header of [undefined, '*', '"3"', '"1", "3"', 'W/"3", "3"']) expect(() => assertIfMatch(header, 3)).not.toThrow();
    for (const header of ['"2"', 'W/"3"', 'W/"1", W/"3"']) {
      expect(() => assertIfMatch(header, 3)).toThrow(expect.objectContaining({ rule: 'precondition_failed', status: 412 }));
    }
  });
});
