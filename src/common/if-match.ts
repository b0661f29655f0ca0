import { RuleViolation } from './rule-violation';

/** The ETag of a revisioned resource: `"<revision>"`. */
export const etagFor = (revision: number): string => `"${revision}"`;

/**
 * Checks an `If-Match` header against the current revision: absent passes, `*` passes for an
 * existing resource, otherwise one of the listed (strong or weak) ETags must match → else 412.
 */
export function assertIfMatch(header: string | undefined, revision: number): void {
  if (header === undefined || header.trim() === '*') return;
  const tags = header.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
  if (!tags.includes(etagFor(revision))) {
    throw new RuleViolation('precondition_failed', 412, `If-Match does not match the current revision ${etagFor(revision)}: read the resource again and retry.`);
  }
}

