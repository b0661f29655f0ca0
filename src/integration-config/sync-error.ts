// What a sync attempt's error may say once it is stored and shown to every reader of the config.
// Pure: no Nest imports.
import { redactText, REDACTED } from '../logging/redact';

/** The longest stored error (the sync-run contract's bound). */
export const MAX_SYNC_ERROR_LENGTH = 10_000;

// Shorter values would mangle ordinary words; shorter base64 fragments would match by chance.
const MIN_SECRET_LENGTH = 4;
const MIN_BASE64_FRAGMENT = 8;
const WEBHOOK_SECRET_PREFIX = 'whsec_';

/**
 * The error text without any of the organization's secrets in any form an upstream might quote
 * them in (an "invalid key xl-…", a Basic-auth header, a hex dump), nor anything shaped like a
 * secret; bounded. `secrets` are every secret the organization holds, not only this config's:
 * the text is served to every reader of the config.
 */
export function scrubSyncError(text: string, secrets: readonly (string | null)[]): string {
  const pattern = secretFormsPattern(secrets);
  const out = pattern ? text.replace(pattern, REDACTED) : text;
  return redactText(out).slice(0, MAX_SYNC_ERROR_LENGTH);
}

/** One case-insensitive pattern matching every encoded form of every secret, longest first. */
function secretFormsPattern(secrets: readonly (string | null)[]): RegExp | null {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH) for (const form of secretForms(secret)) forms.add(form);
  }
  if (forms.size === 0) return null;
  // Longest first, so a form that contains another is replaced whole.
  const alternatives = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
  return new RegExp(alternatives.join('|'), 'gi');
}

/**
 * The forms a secret can take in an upstream's text. Matching is case-insensitive, which also
 * covers upper-cased keys and upper-case hex.
 */
export function secretForms(secret: string): string[] {
  const texts = [secret];
  const bytes = [Buffer.from(secret, 'utf8')];
  // A Standard Webhooks secret is `whsec_` + base64 of the key: the key is quoted without the
  // prefix, or as its raw bytes in any encoding.
  if (secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    const body = secret.slice(WEBHOOK_SECRET_PREFIX.length);
    texts.push(body);
    const key = Buffer.from(body, 'base64');
    if (key.length >= MIN_SECRET_LENGTH) bytes.push(key);
  }
  const forms: string[] = [];
  for (const value of texts) {
    forms.push(value, encodeURIComponent(value), encodeURIComponent(value).replace(/%20/g, '+'), JSON.stringify(value).slice(1, -1));
  }
  for (const value of bytes) forms.push(value.toString('hex'), ...base64Fragments(value));
  return forms.filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * The part of base64 (and base64url) text that encodes `bytes` wherever they sit in a longer
 * value (`user:secret` in a Basic-auth header): the bytes start at one of three offsets of a
 * 3-byte group, and only the groups made of secret bytes alone are the same in every context.
 */
function base64Fragments(bytes: Buffer): string[] {
  const fragments: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const skip = offset === 0 ? 0 : 3 - offset; // secret bytes that share a group with what precedes them
    const whole = Math.floor((bytes.length - skip) / 3) * 3;
    if (whole <= 0) continue;
    const fragment = bytes.subarray(skip, skip + whole).toString('base64');
    if (fragment.length < MIN_BASE64_FRAGMENT) continue;
    fragments.push(fragment, fragment.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return fragments;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
