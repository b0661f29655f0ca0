// What a sync attempt's error may say once it is stored and shown to every reader of the config.
// Pure: no Nest imports.
import { redactText, REDACTED } from '../logging/redact';

/** The longest stored error (the sync-run contract's bound). */
export const MAX_SYNC_ERROR_LENGTH = 10_000;

/**
 * The error text without the config's own secrets (an upstream "invalid key xl-…" would
 * otherwise be stored and served to every reader) nor anything shaped like a secret; bounded.
 */
export function scrubSyncError(text: string, secrets: readonly (string | null)[]): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  const values = secrets
    .filter((v): v is string => typeof v === 'string' && v.length >= 4)
    .sort((a, b) => b.length - a.length);
  for (const value of values) out = out.split(value).join(REDACTED);
  return redactText(out).slice(0, MAX_SYNC_ERROR_LENGTH);
}
