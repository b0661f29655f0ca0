import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { RuleViolation } from './rule-violation';
import { rule } from './validation';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
const CURSOR = /^[A-Za-z0-9_-]{1,64}$/;
/** Cursors are opaque base64url tokens. */
export const CURSOR_SCHEMA = { type: String, pattern: CURSOR.source, maxLength: 64 };

/** `?limit=&cursor=` of the growing lists (API.md "Conventions"). */
export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })
  @IsOptional()
  // Decimal digits only: Number() would also take `0x10`, `1e2`, `+5`, ` 5` and `5.0` as a limit.
  @Transform(({ value }) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value), { toClassOnly: true })
  @IsInt(rule('limit_within_bounds', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`))
  @Min(1, rule('limit_within_bounds', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`))
  @Max(MAX_PAGE_SIZE, rule('limit_within_bounds', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`))
  limit?: number;

  @ApiPropertyOptional({ ...CURSOR_SCHEMA, description: 'The next_cursor of the previous page' })
  @IsOptional()
  @Matches(CURSOR, rule('cursor_must_be_valid', 'cursor must be a next_cursor returned by this list'))
  cursor?: string;
}

/** Keyset cursors over an increasing integer key (a bigint `seq`, a run's int4 row `index`): opaque to clients. */
export function encodeSeqCursor(seq: string): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

/** The SQL types of the integer keys a keyset cursor can name, by their largest value. */
const KEY_MAX = { bigint: 2n ** 63n - 1n, integer: 2n ** 31n - 1n } as const;
export type KeyColumnType = keyof typeof KEY_MAX;

function decodeSeqCursor(cursor: string | undefined, keyType: KeyColumnType): string | null {
  if (!cursor) return null;
  const decoded = Buffer.from(cursor, 'base64url').toString();
  if (!/^s:\d{1,19}$/.test(decoded)) return null;
  // A value past the key column's type fails the comparison (PostgreSQL 22003 → a 500): no cursor of ours is that big.
  const seq = decoded.slice(2);
  return BigInt(seq) <= KEY_MAX[keyType] ? seq : null;
}

/**
 * The key a page starts after (null for the first page); a cursor this service did not issue, or
 * past the range of the key's column type, → 400.
 */
export function seqCursorAfter(page: PageQueryDto, keyType: KeyColumnType): string | null {
  const after = decodeSeqCursor(page.cursor, keyType);
  if (page.cursor && after === null) {
    throw RuleViolation.validation([{ field: 'cursor', rule: 'cursor_must_be_valid', message: 'cursor must be a next_cursor returned by this list' }]);
  }
  return after;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export function mapPage<T, R>(page: Page<T>, map: (item: T) => R): Page<R> {
  return { items: page.items.map(map), next_cursor: page.next_cursor };
}
