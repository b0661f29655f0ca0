import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { RuleViolation } from './rule-violation';
import { rule } from './validation';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
// Sealed cursors (src/crypto/sealed-cursor.ts) are base64url, at most 106 characters.
const CURSOR = /^[A-Za-z0-9_-]{1,128}$/;
/** Cursors are opaque base64url tokens. */
export const CURSOR_SCHEMA = { type: String, pattern: CURSOR.source, maxLength: 128 };
const CURSOR_RULE = 'cursor_must_be_valid';
const CURSOR_MESSAGE = 'cursor must be a next_cursor returned by this list';

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

  @ApiPropertyOptional({
    ...CURSOR_SCHEMA,
    description:
      'The next_cursor of the previous page. Opaque, and bound to the organization, the list and the filters of the request that issued it: send it with the same filters.',
  })
  @IsOptional()
  @Matches(CURSOR, rule(CURSOR_RULE, CURSOR_MESSAGE))
  cursor?: string;
}

/** 400 cursor_must_be_valid, saying why (never what the cursor holds). */
export function invalidCursor(message: string = CURSOR_MESSAGE): RuleViolation {
  return RuleViolation.validation([{ field: 'cursor', rule: CURSOR_RULE, message }]);
}

/**
 * Where a repository's keyset page starts: after the key `after` (null for the first page), at
 * most `limit` rows. The key is raw (a table-wide seq, or a run's row index): only PageCursors turns it into a cursor.
 */
export interface Keyset {
  after: string | null;
  limit: number;
}

/** A repository's keyset page: its rows and the key of the last one when more follow. */
export interface KeysetPage<T> {
  items: T[];
  nextAfter: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export function mapPage<T, R>(page: Page<T>, map: (item: T) => R): Page<R> {
  return { items: page.items.map(map), next_cursor: page.next_cursor };
}
