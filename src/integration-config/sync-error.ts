// What a sync attempt's error may say once it is stored and shown to every reader of the config.
// Pure: no Nest imports.
import { storableText } from '../common/json-body';
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
 * the text is served to every reader of the config. Storable: an upstream's NUL or unpaired
 * surrogate (or one the bound cut in half) would fail the statement that stores it.
 */
export function scrubSyncError(text: string, secrets: readonly (string | null)[]): string {
  const pattern = secretFormsPattern(secrets);
  const out = pattern ? text.replace(pattern, REDACTED) : text;
  return storableText(redactText(out).slice(0, MAX_SYNC_ERROR_LENGTH));
}

/** One case-insensitive pattern matching every encoded form of every secret, longest first. */
function secretFormsPattern(secrets: readonly (string | null)[]): RegExp | null {
  const forms = new Map<string, number>();
  for (const secret of secrets) {
    if (typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH) for (const form of secretForms(secret)) forms.set(form.source, form.length);
  }
  if (forms.size === 0) return null;
  // Longest first, so a form that contains another is replaced whole.
  const alternatives = [...forms].sort((a, b) => b[1] - a[1]).map(([source]) => source);
  return new RegExp(alternatives.join('|'), 'gi');
}

/** Regex source for one form of a secret, and the length of the shortest text it matches. */
interface SecretForm {
  source: string;
  length: number;
}

/**
 * The forms a secret can take in an upstream's text. Matching is case-insensitive, which also
 * covers upper-cased keys and upper- or lower-case hex.
 */
function secretForms(secret: string): SecretForm[] {
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
  const forms = texts.map((value) => ({ source: escapedTextPattern(value), length: value.length }));
  for (const value of bytes) forms.push(literal(value.toString('hex')), ...base64Fragments(value).map(literal));
  // RFC 6749 §2.3.1: a client secret is form-encoded before it goes into a Basic-auth header.
  const formEncoded = new URLSearchParams({ v: secret }).toString().slice('v='.length);
  if (formEncoded !== secret) forms.push(...base64Fragments(Buffer.from(formEncoded, 'utf8')).map(literal));
  return forms.filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * Matches `value` with each character either as written or escaped the way an upstream may echo
 * it, escapes mixed freely (one pattern instead of every combination): percent-encoded once or
 * twice (encodeURIComponent, or form encoding as URLSearchParams writes it: `%7E` for `~`, `+` for
 * a space) and JSON-escaped (`\"`, `\/`, and `\u002B` as .NET writes it).
 */
function escapedTextPattern(value: string): string {
  let source = '';
  for (const char of value) {
    // Letters, digits and `-._` stay as they are in every encoding above.
    if (/^[a-z0-9._-]$/i.test(char)) source += escapeRegExp(char);
    else source += characterPattern(char);
  }
  return source;
}

// Secrets are mostly drawn from a few dozen characters: each one's pattern is built once.
const characterPatterns = new Map<string, string>();

function characterPattern(char: string): string {
  let pattern = characterPatterns.get(char);
  if (pattern === undefined) {
    pattern = `(?:${characterForms(char).map(escapeRegExp).join('|')})`;
    if (characterPatterns.size < 1_000) characterPatterns.set(char, pattern);
  }
  return pattern;
}

function characterForms(char: string): string[] {
  const percent = [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  let unicodeEscape = '';
  for (let i = 0; i < char.length; i++) unicodeEscape += `\\u${char.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
  const forms = [char, percent, percent.replace(/%/g, '%25'), JSON.stringify(char).slice(1, -1), unicodeEscape];
  if (char === ' ') forms.push('+', '%2B');
  if (char === '/') forms.push('\\/');
  // Longest first, so a secret's last `%` takes a following `25` with it.
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

function literal(text: string): SecretForm {
  return { source: escapeRegExp(text), length: text.length };
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
