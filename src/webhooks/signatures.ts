// Inbound webhook signatures, verified over the raw body bytes. Pure: no Nest imports.
//
// Standard Webhooks (https://www.standardwebhooks.com, the scheme Svix uses): the reference
// `standardwebhooks` package decodes the body to a string before signing (not byte-exact for
// non-UTF-8 bodies) and JSON-parses it by default, so the same algorithm is written here over
// the bytes; the tests check it against that package as an independent implementation.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const STANDARD_TOLERANCE_SECONDS = 300;
/** Xledger's window (xledger/graphql-samples, Webhooks-CSharp/GraphQL/ProjectSyncer.cs, ValidSignature). */
export const XLEDGER_TOLERANCE_SECONDS = 15 * 60;
const MAX_SIGNATURES = 10;

/** A refused delivery: `reason` for the operator's log line, `detail` for the sender's 401 (REFUSAL_DETAILS). */
export type Refusal = { ok: false; reason: string; detail: string };
export type Verification = { ok: true; webhookId: string; scheme: 'standard_webhooks' | 'xledger' } | Refusal;

const STANDARD_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * What a refused sender is told: which check failed, in words its developer can act on (the log's
 * reason stays the operator's). Fixed text and header names only: never a secret, a signature
 * sent or expected, an HMAC or the body. A signature that does not match says no more than that.
 */
export const REFUSAL_DETAILS = {
  missingHeaders: (scheme: 'Standard Webhooks' | 'Xledger', names: readonly string[]) =>
    `Missing ${names.length > 1 ? 'headers' : 'header'} of the ${scheme} scheme: ${names.join(', ')}.`,
  webhookIdTooLong: 'The webhook-id header is longer than 255 characters.',
  timestampNotSeconds: 'The webhook-timestamp header must be a Unix time in whole seconds (10 digits today): a timestamp in milliseconds is the usual mistake.',
  timestampOutOfTolerance: (header: 'webhook-timestamp' | 'Date', tooOld: boolean, tolerance: string) =>
    tooOld
      ? `The ${header} header is too old: it must be within ${tolerance} of the server's time. Sign each attempt, retries too, with the current time, and check the sender's clock.`
      : `The ${header} header is too new (in the future): it must be within ${tolerance} of the server's time. Check the sender's clock.`,
  dateNotHttpDate: "The Date header must be an HTTP date, e.g. 'Sun, 22 Nov 2026 12:00:00 GMT'.",
  // Bare base64 (the `v1,` left out) is the usual mistake: named, as no secret is tried on it.
  noV1Signature: 'The webhook-signature header carries no v1 signature: it must be space-separated `v1,<base64>` values.',
  noStandardMatch: 'No signature in the webhook-signature header matches the delivery.',
  noXledgerMatch: 'The X-XL-Webhook-Signature header does not match the delivery.',
  // Config state, told alike whatever is missing (the log tells which): whoever holds the integration's
  // unguessable id (an unknown id is 404 already) learns only that nothing can verify there yet, which
  // helps no forger and spares the sender a hunt through its HMAC.
  notSetUp: 'This integration cannot verify deliveries yet: its administrator must finish its inbound webhook setup.',
} as const;

export const refused = (reason: string, detail: string): Refusal => ({ ok: false, reason, detail });

type Headers = Record<string, string | string[] | undefined>;
const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (inbound webhooks, alert endpoints). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The key bytes of a `whsec_` secret. */
export function webhookSecretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

export function signStandardWebhook(secret: string, webhookId: string, timestamp: number, body: Buffer): string {
  const mac = createHmac('sha256', webhookSecretKey(secret));
  mac.update(`${webhookId}.${timestamp}.`);
  mac.update(body);
  return mac.digest('base64');
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `webhook-id`, `webhook-timestamp` (Unix seconds, ±300 s), `webhook-signature` (space-separated
 * `v1,<base64>`; one valid one suffices), tried against every candidate secret (the current one,
 * the one it replaced for 24 hours, and the one before that while its own 24 hours last).
 */
export function verifyStandardWebhook(body: Buffer, headers: Headers, secrets: string[], nowSeconds = Math.floor(Date.now() / 1000)): Verification {
  const id = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  if (!id || !timestampText || !signatureHeader) {
    return refused(
      'missing_headers',
      REFUSAL_DETAILS.missingHeaders(
        'Standard Webhooks',
        STANDARD_HEADERS.filter((name) => !header(headers, name)),
      ),
    );
  }
  if (id.length > 255) return refused('invalid_webhook_id', REFUSAL_DETAILS.webhookIdTooLong);
  if (!/^\d{1,12}$/.test(timestampText)) return refused('invalid_timestamp', REFUSAL_DETAILS.timestampNotSeconds);
  const timestamp = Number(timestampText);
  if (Math.abs(nowSeconds - timestamp) > STANDARD_TOLERANCE_SECONDS) {
    return refused('timestamp_out_of_tolerance', REFUSAL_DETAILS.timestampOutOfTolerance('webhook-timestamp', timestamp < nowSeconds, `${STANDARD_TOLERANCE_SECONDS} seconds`));
  }
  // The header's form, like the timestamp's, is the sender's alone: told before the config's state.
  const entries = signatureHeader.split(' ').map((part) => part.split(','));
  const isV1 = ([version, value]: string[]) => version === 'v1' && !!value;
  if (!entries.some(isV1)) return refused('no_v1_signature', REFUSAL_DETAILS.noV1Signature);
  if (secrets.length === 0) return refused('no_webhook_secret', REFUSAL_DETAILS.notSetUp);

  const offered = entries
    .slice(0, MAX_SIGNATURES)
    .filter(isV1)
    .map(([, value]) => Buffer.from(value, 'base64'));
  for (const secret of secrets) {
    const expected = Buffer.from(signStandardWebhook(secret, id, timestamp, body), 'base64');
    if (offered.some((candidate) => constantTimeEqual(candidate, expected))) return { ok: true, webhookId: id, scheme: 'standard_webhooks' };
  }
  return refused('bad_signature', REFUSAL_DETAILS.noStandardMatch);
}

/** Shortest HMAC key the Xledger scheme accepts: an API token decoding to less is no signing key. */
export const XLEDGER_MIN_KEY_BYTES = 16;

/**
 * Canonical base64url only (RFC 4648 §5, padding optional), else null. Node's decoder skips what
 * it does not understand: "x", "!!!!" or non-ASCII text decode to an empty key, and an HMAC with
 * an empty key is one anybody can compute.
 */
export function strictBase64Url(text: string): Buffer | null {
  const unpadded = text.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9_-]+$/.test(unpadded)) return null;
  const bytes = Buffer.from(unpadded, 'base64url');
  return bytes.toString('base64url') === unpadded ? bytes : null;
}

/** The HMAC key of an Xledger API token, or null when the token is no usable key (the scheme is off). */
export function xledgerSigningKey(apiToken: string): Buffer | null {
  const key = strictBase64Url(apiToken);
  return key && key.length >= XLEDGER_MIN_KEY_BYTES ? key : null;
}

/** Xledger's signature: base64url HMAC-SHA256, keyed by the base64url-decoded API token, over `{Unix seconds of Date}.{body}`. */
export function signXledgerWebhook(apiToken: string, dateSeconds: number, body: Buffer): string {
  const key = xledgerSigningKey(apiToken);
  if (!key) throw new Error(`An Xledger API token must be canonical base64url of at least ${XLEDGER_MIN_KEY_BYTES} bytes to sign with`);
  return xledgerMac(key, dateSeconds, body).toString('base64url');
}

function xledgerMac(key: Buffer, dateSeconds: number, body: Buffer): Buffer {
  const mac = createHmac('sha256', key);
  mac.update(`${dateSeconds}.`);
  mac.update(body);
  return mac.digest();
}

/**
 * `X-XL-Webhook-Signature` with the request's `Date` header, within 15 minutes. Xledger sends no
 * delivery id: the idempotency key is derived from the signature (unique per Date and body).
 */
export function verifyXledgerWebhook(body: Buffer, headers: Headers, apiToken: string | null, nowMs = Date.now()): Verification {
  const signature = header(headers, 'x-xl-webhook-signature');
  const date = header(headers, 'date');
  if (!signature || !date) {
    return refused('missing_headers', REFUSAL_DETAILS.missingHeaders('Xledger', [signature ? '' : 'X-XL-Webhook-Signature', date ? '' : 'Date'].filter(Boolean)));
  }
  const dateMs = Date.parse(date);
  if (Number.isNaN(dateMs)) return refused('invalid_date', REFUSAL_DETAILS.dateNotHttpDate);
  if (Math.abs(nowMs - dateMs) > XLEDGER_TOLERANCE_SECONDS * 1000) {
    return refused('timestamp_out_of_tolerance', REFUSAL_DETAILS.timestampOutOfTolerance('Date', dateMs < nowMs, `${XLEDGER_TOLERANCE_SECONDS / 60} minutes`));
  }
  if (!apiToken) return refused('no_api_key', REFUSAL_DETAILS.notSetUp);
  const key = xledgerSigningKey(apiToken);
  if (!key) return refused('api_key_not_a_signing_key', REFUSAL_DETAILS.notSetUp);
  const expected = xledgerMac(key, Math.floor(dateMs / 1000), body);
  const offered = strictBase64Url(signature);
  if (!offered || !constantTimeEqual(offered, expected)) return refused('bad_signature', REFUSAL_DETAILS.noXledgerMatch);
  return { ok: true, webhookId: `xl_${createHash('sha256').update(expected).digest('hex').slice(0, 48)}`, scheme: 'xledger' };
}
