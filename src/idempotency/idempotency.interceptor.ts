import { Injectable, Logger, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, concatMap, from, of, switchMap, type Observable } from 'rxjs';
import type { AuthenticatedRequest } from '../auth/auth.decorators';
import { RuleViolation } from '../common/rule-violation';
import { pathParamsOf, type HttpReply, type HttpRequest } from '../http/http-types';
import { Keyring } from '../crypto/keyring';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_WINDOW_HOURS, idempotencyKeyOf, requestFingerprint, sameRequest } from './idempotency-key';
import { declaredHttpCode } from '../common/nest-internals';
import { IdempotencyRepository } from './idempotency.repository';

export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/** A request still in progress after this long did not finish (no POST runs for minutes): its retry is told so, not to retry. */
const STALE_IN_PROGRESS_SECONDS = 300;
/**
 * When freeing a failed request's key fails (the connection lost at that moment), it is tried again
 * after these delays: within the minutes its retries are told to retry shortly (409, Retry-After: 1).
 */
const RELEASE_RETRY_SECONDS = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * A POST sent with an Idempotency-Key runs once: the same key with the same request gets the first
 * answer again for 24 hours (Idempotent-Replayed: true); with another request, 422; while the
 * first is still running, or when it did not finish (its process stopped, or it committed and its
 * answer could not be stored), 409. Only a successful answer is kept: a refused or failed request
 * changed nothing (its transaction rolled back), so its key may be sent again.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Idempotency');

  constructor(
    private readonly keys: IdempotencyRepository,
    private readonly keyring: Keyring,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequest & AuthenticatedRequest>();
    const key = idempotencyKeyOf(request.headers[IDEMPOTENCY_KEY_HEADER]);
    if (key === undefined) return next.handle();
    const orgId = request.params?.['org_id']?.toLowerCase();
    const sub = request.principal?.sub;
    // The guards ran: the route has an organization and the request a principal.
    if (!orgId || !sub) throw new Error('IdempotencyInterceptor: on a route without an organization or a principal');
    const reply = http.getResponse<HttpReply & { getHeader?(name: string): unknown }>();
    const handler = context.getHandler();
    const operation = `${context.getClass().name}.${handler.name}`;
    const active = this.keyring.activeKeyId;
    const params = pathParamsOf(request);
    // A query string is part of the request (every write refuses one): a replay that adds one is another request, not the stored answer.
    const query = request.query ?? {};
    const sent = Object.keys(query).length > 0 ? { body: request.body, query } : request.body;
    const fingerprint = requestFingerprint(operation, params, sent, { id: active, secret: this.keyring.get(active) });
    // An earlier request's fingerprint may be under another key of the keyring (rotated meanwhile).
    const keyOf = (kid: string) => (this.keyring.has(kid) ? this.keyring.get(kid) : undefined);

    return from(this.keys.claim(orgId, sub, key, fingerprint)).pipe(
      switchMap((claim) => {
        if (claim.kind !== 'claimed' && claim.fingerprint !== fingerprint && !sameRequest(claim.fingerprint, operation, params, sent, keyOf)) {
          throw new RuleViolation(
            'idempotency_key_reused_with_other_request',
            `This Idempotency-Key was sent with another request in the last ${IDEMPOTENCY_WINDOW_HOURS} hours: use a new key for a new request.`,
          );
        }
        if (claim.kind === 'in_progress') {
          if (claim.sinceSeconds < STALE_IN_PROGRESS_SECONDS) {
            throw new RuleViolation('idempotency_key_in_use', 'A request with this Idempotency-Key is still running: retry shortly.', [], 1);
          }
          // No Retry-After: the key stays in use for its 24 hours, and retrying changes nothing.
          const detail = `A request with this Idempotency-Key did not finish (its process stopped, or its answer could not be stored): look its effect up before using a new key. The key stays in use for ${IDEMPOTENCY_WINDOW_HOURS} hours.`;
          throw new RuleViolation('idempotency_key_in_use', detail);
        }
        if (claim.kind === 'completed') {
          reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
          if (claim.etag) reply.header('ETag', claim.etag);
          reply.status(claim.status);
          return of(JSON.parse(claim.body) as unknown);
        }
        return next.handle().pipe(
          // Only the handler's own failure frees the key (its transaction rolled back). Once it
          // answered, its change is committed: an answer that could not be stored leaves the key
          // in progress (a retry hears 409), never free for the request to run twice.
          catchError(async (error: unknown) => {
            await this.release(orgId, sub, key, claim.claim);
            throw error;
          }),
          concatMap(async (value: unknown) => {
            // A handler may answer other than its declared status (an export queued for delivery: 202).
            const status = reply.statusCode !== undefined && reply.statusCode !== 200 ? reply.statusCode : (declaredHttpCode(handler) ?? 201);
            const etag = reply.getHeader?.('etag');
            await this.keys.complete(orgId, sub, key, { status, body: JSON.stringify(value), etag: typeof etag === 'string' ? etag : null });
            return value;
          }),
        );
      }),
    );
  }

  /**
   * Frees the key of a request that failed (nothing of it committed). A failed try is not the
   * request's answer (that stays its own error), and is tried again later: a key left claimed would
   * refuse the client's retry for 24 hours, although nothing was done.
   */
  private release(orgId: string, sub: string, key: string, claim: string, retry = 0): Promise<void> {
    return this.keys.release(orgId, sub, key, claim).catch((error: unknown) => {
      const err = { name: (error as Error)?.name, message: (error as Error)?.message };
      if (retry >= RELEASE_RETRY_SECONDS.length) return this.logger.error({ event: 'idempotency_key_not_released', org_id: orgId, err });
      this.logger.warn({ event: 'idempotency_key_release_retried', org_id: orgId, retry_in_seconds: RELEASE_RETRY_SECONDS[retry], err });
      setTimeout(() => void this.release(orgId, sub, key, claim, retry + 1), RELEASE_RETRY_SECONDS[retry] * 1000).unref();
    });
  }
}
