import { randomBytes } from 'node:crypto';
import { canonicalFilters, MAX_SEALED_CURSOR_LENGTH, openCursor, sealCursor, type CursorBinding } from './sealed-cursor';

describe('sealed cursors', () => {
  const k1 = { id: 'k1', secret: randomBytes(32) };
  const k2 = { id: 'k2', secret: randomBytes(32) };
  const keyOf = (kid: string) => ({ k1: k1.secret, k2: k2.secret })[kid];
  const binding: CursorBinding = { orgId: '7d3c1b1e-0000-4000-8000-000000000001', list: 'sync_runs:5f0e', filters: canonicalFilters({}) };

  it('open to the position they were sealed with, under any key still in the keyring', () => {
    for (const position of [0n, 1n, 421n, 2n ** 31n - 1n, 2n ** 63n - 1n]) {
      expect(openCursor(sealCursor(position, binding, k1), binding, keyOf)).toEqual({ ok: true, position });
    }
    expect(openCursor(sealCursor(421n, binding, k2), binding, keyOf)).toEqual({ ok: true, position: 421n });
  });

  it('read as noise of one length: no digits of the position, a new IV each time', () => {
    const cursors = [1n, 421n, 98_765_432_123n].map((position) => sealCursor(position, binding, k1));
    expect(new Set(cursors.map((cursor) => cursor.length)).size).toBe(1);
    for (const cursor of cursors) {
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      const bytes = Buffer.from(cursor, 'base64url');
      expect(bytes.toString('latin1')).not.toMatch(/421|98765/);
    }
    expect(sealCursor(421n, binding, k1)).not.toBe(sealCursor(421n, binding, k1));
  });

  it('stay short enough for a URL, even under a 32-character key id', () => {
    const long = { id: 'k'.repeat(32), secret: k1.secret };
    const cursor = sealCursor(2n ** 63n - 1n, { ...binding, filters: canonicalFilters({ action: 'x'.repeat(500) }) }, long);
    expect(cursor.length).toBe(MAX_SEALED_CURSOR_LENGTH);
    expect(MAX_SEALED_CURSOR_LENGTH).toBeLessThan(128);
    expect(sealCursor(1n, binding, k1).length).toBeLessThan(80);
  });

  it('open only for the organization, list and filters they were sealed for, saying which differs', () => {
    const cursor = sealCursor(421n, binding, k1);
    expect(openCursor(cursor, { ...binding, orgId: '7d3c1b1e-0000-4000-8000-000000000002' }, keyOf)).toEqual({ ok: false, refusal: 'other_organization' });
    expect(openCursor(cursor, { ...binding, list: 'sync_runs:5f0f' }, keyOf)).toEqual({ ok: false, refusal: 'other_list' });
    expect(openCursor(cursor, { ...binding, filters: canonicalFilters({ action: 'a' }) }, keyOf)).toEqual({ ok: false, refusal: 'other_filters' });
  });

  it('refuse a key no longer in the keyring, an altered byte, and anything not sealed here', () => {
    const cursor = sealCursor(421n, binding, k1);
    expect(openCursor(cursor, binding, (kid) => (kid === 'k2' ? k2.secret : undefined))).toEqual({ ok: false, refusal: 'retired_key' });
    const bytes = Buffer.from(cursor, 'base64url');
    // Each byte of the IV, the position and the tag flipped in turn.
    for (let at = bytes.length - 36; at < bytes.length; at++) {
      const flipped = Buffer.from(bytes);
      flipped[at] ^= 0x01;
      expect(openCursor(flipped.toString('base64url'), binding, keyOf)).toEqual({ ok: false, refusal: 'tampered' });
    }
    for (const foreign of [
      '',
      'czo0MjE',
      Buffer.from('s:421').toString('base64url'),
      `${cursor}A`,
      cursor.slice(0, -1),
      `${cursor.slice(0, -1)}=`,
      randomBytes(49).toString('base64url'),
    ]) {
      expect(openCursor(foreign, binding, keyOf)).toMatchObject({ ok: false });
    }
  });

  it('bind filters by value, whatever their order, leaving unset ones out', () => {
    const from = new Date('2026-12-01T00:00:00Z');
    expect(canonicalFilters({ to: undefined, action: 'a', from })).toBe(canonicalFilters({ from: new Date(from.getTime()), action: 'a', resource_id: undefined }));
    expect(canonicalFilters({ action: 'a' })).not.toBe(canonicalFilters({ action: 'b' }));
    expect(canonicalFilters({ action: 'a' })).not.toBe(canonicalFilters({ resource_id: 'a' }));
  });

  it('seal only a non-negative int8 position', () => {
    expect(() => sealCursor(-1n, binding, k1)).toThrow(RangeError);
    expect(() => sealCursor(2n ** 63n, binding, k1)).toThrow(RangeError);
  });
});
