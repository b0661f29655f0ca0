// The cursors of the growing lists, sealed under the keyring's active key (src/crypto/sealed-cursor.ts).
// Pure: no Nest imports (CryptoModule provides it).
import { DEFAULT_PAGE_SIZE, invalidCursor, type Keyset, type KeysetPage, type Page, type PageQueryDto } from '../common/pagination';
import { Keyring } from './keyring';
import { canonicalFilters, openCursor, sealCursor, type CursorFilters, type CursorRefusal } from './sealed-cursor';

/** Why a cursor is refused, without a word of what it holds. */
const REFUSALS: Record<CursorRefusal, string> = {
  malformed: 'cursor must be a next_cursor returned by this list',
  tampered: 'cursor must be a next_cursor returned by this list, unaltered',
  retired_key: 'cursor was sealed under an encryption key no longer in use: start again from the first page',
  other_organization: "cursor was issued for another organization's list",
  other_list: 'cursor was issued by another list',
  other_filters: 'cursor was issued with other filters: send it with the filters of the request that returned it',
};

export class PageCursors {
  constructor(private readonly keyring: Keyring) {}

  /**
   * One page of `list` (named with its resource: `sync_runs:<integration id>`): the query's cursor
   * opened (400 cursor_must_be_valid unless this organization's `list` issued it with these
   * `filters`, the list's filter parameters as it filters by them), `read` from there, and the
   * next page's cursor sealed the same way.
   */
  async page<T>(orgId: string, list: string, filters: CursorFilters, query: PageQueryDto, read: (keyset: Keyset) => Promise<KeysetPage<T>>): Promise<Page<T>> {
    const binding = { orgId, list, filters: canonicalFilters(filters) };
    let after: string | null = null;
    if (query.cursor !== undefined) {
      // A cursor sealed before a rotation opens while its key is still in the keyring.
      const opened = openCursor(query.cursor, binding, (kid) => (this.keyring.has(kid) ? this.keyring.get(kid) : undefined));
      if (!opened.ok) throw invalidCursor(REFUSALS[opened.refusal]);
      after = opened.position.toString();
    }
    const page = await read({ after, limit: query.limit ?? DEFAULT_PAGE_SIZE });
    const active = this.keyring.activeKeyId;
    return {
      items: page.items,
      next_cursor: page.nextAfter === null ? null : sealCursor(BigInt(page.nextAfter), binding, { id: active, secret: this.keyring.get(active) }),
    };
  }
}
