import type { EntityManager, EntityTarget, FindOptionsOrder, FindOptionsSelect, FindOptionsWhere, ObjectLiteral } from 'typeorm';
import { LessThan, MoreThan } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { invalidCursor, type Keyset, type KeysetPage } from '../common/pagination';
import { queryRows } from './pool-query';
import type { Transaction } from './transaction';

/** PostgreSQL's bound on a statement's parameters (a 16-bit count in the protocol). */
const MAX_STATEMENT_PARAMETERS = 65_535;
/** The largest value of each keyset key's column (bigint `seq`, int4 `index`): a key past it is refused, not sent to PostgreSQL (22003 → 500). */
const KEY_MAX = { seq: 2n ** 63n - 1n, index: 2n ** 31n - 1n } as const;

/**
 * The base of the repositories: one per table, holding all of that table's SQL. Outside a
 * transaction a repository runs on the pool; `in(tx)` is the same repository on a transaction.
 */
export abstract class TableRepository {
  constructor(private readonly manager: EntityManager) {}

  /** This repository on the transaction's connection (a view of it: nothing is copied). */
  in(tx: Transaction): this {
    return Object.create(this, { manager: { value: tx.manager } }) as this;
  }

  /** The rows of one plain SQL statement (the hot paths: no query runner outside a transaction). */
  protected rows<T>(sql: string, parameters: readonly unknown[]): Promise<T[]> {
    return queryRows<T>(this.manager, sql, parameters);
  }

  protected repository<E extends ObjectLiteral>(entity: EntityTarget<E>) {
    return this.manager.getRepository(entity);
  }

  /**
   * Inserts whole rows. The one cast of the repositories: TypeORM's QueryDeepPartialEntity recurses
   * into jsonb columns (typed `Record<string, unknown>`) and cannot express them.
   */
  protected async insertRows<E extends ObjectLiteral>(entity: EntityTarget<E>, rows: E | E[]): Promise<void> {
    const repository = this.repository(entity);
    const all = Array.isArray(rows) ? rows : [rows];
    // A statement takes at most 65,535 parameters (one per column of each row): 10,000 delivery rows are two statements.
    const perStatement = Math.max(1, Math.floor(MAX_STATEMENT_PARAMETERS / repository.metadata.columns.length));
    for (let i = 0; i < all.length; i += perStatement) {
      await repository.insert(all.slice(i, i + perStatement) as unknown as QueryDeepPartialEntity<E>);
    }
  }

  /** Updates the rows `where` selects (the organization in it, but for the key rotation's writes across organizations); `updated_at` etc. may be SQL (`() => 'now()'`). */
  protected async updateRows<E extends ObjectLiteral>(entity: EntityTarget<E>, where: FindOptionsWhere<E>, changes: { [K in keyof E]?: E[K] | (() => string) }): Promise<number> {
    const result = await this.repository(entity).update(where, changes as unknown as QueryDeepPartialEntity<E>);
    return result.affected ?? 0;
  }

  /**
   * A keyset page over an increasing column: `seq` newest first (sync runs, export runs) or a run's
   * row `index` in order, starting after `keyset.after`; `nextAfter` is the last key of the page
   * (PageCursors seals it). `where` must name the organization. (Webhook events and the audit trail
   * page with their own SQL: a byte budget, and two index scans merged instead of an OR.)
   */
  protected async keysetPage<E extends ObjectLiteral>(
    entity: EntityTarget<E>,
    where: FindOptionsWhere<E>,
    keyset: Keyset,
    options: { key: keyof typeof KEY_MAX; order: 'ASC' | 'DESC'; select?: FindOptionsSelect<E> },
  ): Promise<KeysetPage<E>> {
    const { after, limit } = keyset;
    // A sealed cursor holds only keys this service read; the check costs nothing should one not.
    if (after !== null && BigInt(after) > KEY_MAX[options.key]) throw invalidCursor();
    const past = options.order === 'DESC' ? LessThan : MoreThan;
    const cursor = after !== null ? { [options.key]: past(options.key === 'index' ? Number(after) : after) } : {};
    const rows = await this.repository(entity).find({
      where: { ...where, ...cursor } as FindOptionsWhere<E>,
      order: { [options.key]: options.order } as FindOptionsOrder<E>,
      take: limit + 1,
      select: options.select,
    });
    const items = rows.slice(0, limit);
    return { items, nextAfter: rows.length > limit ? String(items[items.length - 1][options.key]) : null };
  }
}
