import { RuleViolation } from './rule-violation';

/** The ETag of a revisioned resource: `"<revision>"`. */
export const etagFor = (revision: number): string => `"${revision}"`;

const listedTags = (header: string): string[] => header.split(',').map((tag) => tag.trim());
/** If-None-Match compares weakly (`W/"3"` is `"3"`), RFC 9110 §13.1.2. */
const weakTags = (header: string): string[] => listedTags(header).map((tag) => tag.replace(/^W\//, ''));

/**
 * `If-None-Match` on a read: true when the client's copy is the current revision (or it sent
 * `*`, and the resource exists), so the answer is 304 without a body.
 */
export function isNotModified(header: string | undefined, revision: number): boolean {
  if (header === undefined) return false;
  return header.trim() === '*' || weakTags(header).includes(etagFor(revision));
}

/**
 * Checks an `If-Match` header against the current revision: absent passes, `*` passes for an
 * existing resource, otherwise one of the listed ETags must match strongly → else 412. A weak tag (`W/"3"`) never
 * matches: RFC 9110 §13.1.1 asks If-Match for the strong comparison, since a weak tag does not
 * promise the same bytes.
 */
export function assertIfMatch(header: string | undefined, revision: number): void {
  if (header === undefined || header.trim() === '*') return;
  if (!listedTags(header).includes(etagFor(revision))) {
    throw new RuleViolation('precondition_failed', `If-Match does not match the current revision ${etagFor(revision)}: read the resource again and retry.`);
  }
}
