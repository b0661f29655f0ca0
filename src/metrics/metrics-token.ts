// The scrape credential: `Authorization: Bearer <METRICS_TOKEN>`. Pure: no Nest imports.
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer +(\S+)$/i;

/**
 * Whether the Authorization header carries exactly the metrics token. Compared in constant time
 * over fixed-length digests, so neither the token's bytes nor its length leak through timing.
 */
export function carriesMetricsToken(authorization: string | string[] | undefined, token: string): boolean {
  const match = typeof authorization === 'string' ? BEARER.exec(authorization.trim()) : null;
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  // A missing credential is compared too: every refusal costs the same.
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}
