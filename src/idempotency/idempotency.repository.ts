import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectMeanderDataSource } from '../database/database.module';
import { queryRows } from '../database/pool-query';
import { IDEMPOTENCY_KEYS_TABLE } from './idempotency-key.entity';
import { IDEMPOTENCY_WINDOW_HOURS } from './idempotency-key';

/** What a request with an Idempotency-Key finds: the key is its own now, or another request's. */
export type IdempotencyClaim =
  /** `claim` names this claim of the key (the row version's transaction id), so only it is ever freed by release(). */
  | { kind: 'claimed'; claim: string }
  | { kind: 'completed'; fingerprint: string; status: number; body: string; etag: string | null }
  | { kind: 'in_progress'; fingerprint: string; sinceSeconds: number };

const WINDOW = `interval '${IDEMPOTENCY_WINDOW_HOURS} hours'`;

// A new key, or one whose window has passed (its row is taken over in the same statement).
const CLAIM_SQL = `INSERT INTO ${IDEMPOTENCY_KEYS_TABLE} (organization_id, principal_sub, key, request_fingerprint, state)
  VALUES ($1, $2, $3, $4, 'in_progress')
  ON CONFLICT ON CONSTRAINT pk_idempotency_keys DO UPDATE
    SET request_fingerprint = EXCLUDED.request_fingerprint, state = 'in_progress', response_status = NULL, response_body = NULL, response_etag = NULL, created_at = now()
    WHERE ${IDEMPOTENCY_KEYS_TABLE}.created_at < now() - ${WINDOW}
  RETURNING xmin::text AS claim`;
const FIND_SQL = `SELECT request_fingerprint, state, response_status, response_body, response_etag,
    EXTRACT(EPOCH FROM now() - created_at)::float8 AS since_seconds FROM ${IDEMPOTENCY_KEYS_TABLE}
  WHERE organization_id = $1 AND principal_sub = $2 AND key = $3`;
const COMPLETE_SQL = `UPDATE ${IDEMPOTENCY_KEYS_TABLE} SET state = 'completed', response_status = $4, response_body = $5, response_etag = $6
  WHERE organization_id = $1 AND principal_sub = $2 AND key = $3 AND state = 'in_progress'`;
// Only the claim that is freed: a late try (its first answer lost) must not free a key another request has claimed since.
const RELEASE_SQL = `DELETE FROM ${IDEMPOTENCY_KEYS_TABLE} WHERE organization_id = $1 AND principal_sub = $2 AND key = $3 AND state = 'in_progress' AND xmin::text = $4`;
// Expired keys go a few at a time with each new one, so the table holds about a day of keys.
const PRUNE_SQL = `DELETE FROM ${IDEMPOTENCY_KEYS_TABLE} WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM ${IDEMPOTENCY_KEYS_TABLE} WHERE created_at < now() - ${WINDOW} ORDER BY created_at LIMIT 100))`;

interface KeyRow {
  request_fingerprint: string;
  state: 'in_progress' | 'completed';
  response_status: number | null;
  response_body: string | null;
  response_etag: string | null;
  since_seconds: number;
}

/** idempotency_keys: every statement is scoped by organization and principal first, but the pruning of expired keys (any organization's; it reads nothing back). */
@Injectable()
export class IdempotencyRepository {
  constructor(@InjectMeanderDataSource() private readonly dataSource: DataSource) {}

  async claim(orgId: string, principalSub: string, key: string, fingerprint: string): Promise<IdempotencyClaim> {
    // Twice at most: a row found taken may be released (its request failed) before it is read.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const [claimed] = await queryRows<{ claim: string }>(this.dataSource, CLAIM_SQL, [orgId, principalSub, key, fingerprint]);
      if (claimed) {
        await queryRows(this.dataSource, PRUNE_SQL, []);
        return { kind: 'claimed', claim: claimed.claim };
      }
      const [row] = await queryRows<KeyRow>(this.dataSource, FIND_SQL, [orgId, principalSub, key]);
      if (!row) continue;
      if (row.state === 'in_progress') return { kind: 'in_progress', fingerprint: row.request_fingerprint, sinceSeconds: row.since_seconds };
      return { kind: 'completed', fingerprint: row.request_fingerprint, status: row.response_status ?? 200, body: row.response_body ?? 'null', etag: row.response_etag };
    }
    return { kind: 'in_progress', fingerprint, sinceSeconds: 0 };
  }

  async complete(orgId: string, principalSub: string, key: string, answer: { status: number; body: string; etag: string | null }): Promise<void> {
    await queryRows(this.dataSource, COMPLETE_SQL, [orgId, principalSub, key, answer.status, answer.body, answer.etag]);
  }

  /** The request failed (its transaction rolled back): the key may be used again. */
  async release(orgId: string, principalSub: string, key: string, claim: string): Promise<void> {
    await queryRows(this.dataSource, RELEASE_SQL, [orgId, principalSub, key, claim]);
  }
}
