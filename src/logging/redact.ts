// Log redaction: no secret, credential or ciphertext reaches a log line. Pure: no Nest imports.

export const REDACTED = '[redacted]';

/** Keys whose values are never logged, at any depth. */
export const SECRET_KEY_PATTERN = /(secret|password|passwd|api[_-]?key|token|authorization|cookie|signature|_encrypted$|^encrypted|private[_-]?key|credential)/i;

// Secret shapes inside free text (error messages, stacks): envelopes, webhook secrets, bearer
// tokens, and `key=value` pairs whose key names a secret.
const SECRET_TEXT_PATTERNS: [RegExp, string | ((match: string, token: string) => string)][] = [
  [/enc:v\d+:[A-Za-z0-9_:-]+/g, REDACTED],
  [/whsec_[A-Za-z0-9+/=_-]+/g, REDACTED],
  [/Bearer\s+[A-Za-z0-9._~+/-]+=*/gi, `Bearer ${REDACTED}`],
  // RFC 7617 credentials are base64 of `user:password`: only a token that decodes so is one
  // (the word "basic" in a sentence is left alone).
  [/\bBasic\s+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])/gi, (match, token) => (isBasicCredential(token) ? `Basic ${REDACTED}` : match)],
  [/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // Not an error's name before its message (`SecretDecryptionError: cannot decrypt …`).
  [/((?:secret|password|api[_-]?key|token)(?![A-Za-z_]*(?:Error|Exception): )[A-Za-z_]*["']?\s*[=:]\s*["']?)[^\s"',;&]+/gi, `$1${REDACTED}`],
];

// Every pattern above needs one of these: most text (ids, paths, messages) is let through after
// one test instead of five replacements (the formatter runs on every log line's strings).
const MAY_HOLD_SECRET = /enc:v\d|whsec_|bearer\s|basic\s|eyJ|secret|password|api[_-]?key|token/i;

export function redactText(text: string): string {
  if (!MAY_HOLD_SECRET.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT_PATTERNS) {
    out = typeof replacement === 'string' ? out.replace(pattern, replacement) : out.replace(pattern, replacement);
  }
  return out;
}

function isBasicCredential(token: string): boolean {
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  return decoded.includes(':') && /^[\x20-\x7e\x80-\xff]+$/.test(decoded);
}

/** A copy of `value` with every secret-named key's value replaced; bounded depth and size. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[depth limit]';
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => redactDeep(item, depth + 1));
  const proto = Object.getPrototypeOf(value);
  // Errors and plain objects are walked; anything else (streams, requests) is left to serializers.
  if (proto !== Object.prototype && proto !== null && !(value instanceof Error)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    out[key] = SECRET_KEY_PATTERN.test(key) ? REDACTED : redactDeep((value as Record<string, unknown>)[key], depth + 1);
  }
  if (value instanceof Error) {
    out['name'] = value.name;
    out['message'] = redactText(value.message);
    if (value.stack) out['stack'] = redactText(value.stack);
  }
  return out;
}

/**
 * Path and the names (not values) of the query parameters: values may be tokens. Names stay as
 * sent, percent-encoded: decoding could throw (`?%`) and made a second pass decode them again.
 */
export function safeUrl(url: string | undefined): string {
  if (!url) return '';
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const path = url.slice(0, mark);
  const query = url.slice(mark + 1);
  if (!query) return path;
  const keys = query
    .split('&')
    .map((pair) => pair.split('=')[0] ?? '')
    .filter(Boolean);
  return `${path}?${keys.map((k) => `${k}=${REDACTED}`).join('&')}`;
}
