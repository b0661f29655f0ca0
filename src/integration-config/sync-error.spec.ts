import { REDACTED } from '../logging/redact';
import { MAX_SYNC_ERROR_LENGTH, scrubSyncError } from './sync-error';

describe('scrubSyncError', () => {
  const secrets = ['xl-AbCdEf0123', 'cs_9f8e7d', 'whsec_QUJDREVGR0g=', null];

  it("removes the config's own secrets, however the upstream quoted them", () => {
    const text = 'upstream said: invalid key xl-AbCdEf0123 (client cs_9f8e7d); secret whsec_QUJDREVGR0g= refused; xl-AbCdEf0123 again';
    const out = scrubSyncError(text, secrets);
    for (const value of secrets) if (value) expect(out).not.toContain(value);
    expect(out).toBe(`upstream said: invalid key ${REDACTED} (client ${REDACTED}); secret ${REDACTED} refused; ${REDACTED} again`);
  });

  it('also removes secret-shaped text, keeps the rest, and bounds the length', () => {
    expect(scrubSyncError('got 401 with Bearer eyJa.eyJb.sig', [null])).toBe(`got 401 with Bearer ${REDACTED}`);
    expect(scrubSyncError('timeout after 30 s', secrets)).toBe('timeout after 30 s');
    expect(scrubSyncError('x'.repeat(MAX_SYNC_ERROR_LENGTH + 10), secrets)).toHaveLength(MAX_SYNC_ERROR_LENGTH);
  });

  it('is storable: NUL and unpaired surrogates as U+FFFD, a pair the bound cuts in half too', () => {
    expect(scrubSyncError('x\u0000y\uD800', [])).toBe('x\uFFFDy\uFFFD');
    const cut = scrubSyncError(`${'a'.repeat(MAX_SYNC_ERROR_LENGTH - 1)}\uD83D\uDE00`, []);
    expect(cut).toBe(`${'a'.repeat(MAX_SYNC_ERROR_LENGTH - 1)}\uFFFD`);
  });

  it('ignores values too short to be secrets (they would mangle ordinary words)', () => {
    expect(scrubSyncError('the key is bad', ['is'])).toBe('the key is bad');
  });
});

describe('scrubSyncError in every encoding', () => {
  const apiKey = 'xl-Key/0123456789+abcdef';
  const whsec = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const otherConfigs = 'cs_other-config-secret';
  const secrets = [apiKey, whsec, otherConfigs];
  const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

  it.each([
    ['base64', b64(apiKey)],
    ['base64 without padding', b64(apiKey).replace(/=+$/, '')],
    ['base64url', b64(apiKey).replace(/\+/g, '-').replace(/\//g, '_')],
    ['hex', Buffer.from(apiKey).toString('hex')],
    ['upper-case hex', Buffer.from(apiKey).toString('hex').toUpperCase()],
    ['URL-encoded', encodeURIComponent(apiKey)],
    ['upper-case', apiKey.toUpperCase()],
    ['JSON-escaped', JSON.stringify(apiKey).slice(1, -1)],
    ['inside a Basic-auth credential', b64(`svc-user:${apiKey}`)],
    ['inside base64 at the second offset', b64(`ab${apiKey}tail`)],
    ['webhook secret without whsec_', whsec.slice('whsec_'.length)],
    ['webhook key as hex', Buffer.from('0123456789abcdef0123456789abcdef').toString('hex')],
    ["another config's secret", otherConfigs],
    ["another config's secret, base64", b64(otherConfigs)],
  ])('removes the secret %s', (_form, quoted) => {
    const out = scrubSyncError(`upstream refused credential <${quoted}> at 12:00`, secrets);
    expect(out).not.toContain(quoted);
    expect(out.startsWith('upstream refused credential <')).toBe(true);
    expect(out.endsWith('> at 12:00')).toBe(true);
  });

  it('leaves an error that quotes no secret as it was', () => {
    const text = `HTTP 500 from ${Buffer.from('ordinary text').toString('base64')} (request 4f2a)`;
    expect(scrubSyncError(text, secrets)).toBe(text);
  });
});

describe('scrubSyncError in the encodings an OAuth or .NET upstream echoes', () => {
  // Azure client secrets carry `~`, which only form encoding turns into `%7E`.
  const azureSecret = 'Abc8Q~xYz.Pq7_Rs-Tu9~Vw0AbCdEfGhIjKlMn';
  const apiKey = 'xl-Key/0123456789+abcdef';
  const passphrase = "pass phrase (it's long)!";
  const htmlish = 'p&ss<w>rd"2024\'x';
  const secrets = [azureSecret, apiKey, passphrase, htmlish];
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  // How URLSearchParams writes a value: what an OAuth token request body carries.
  const formEncoded = (value: string) => new URLSearchParams({ v: value }).toString().slice('v='.length);
  const lowerHex = (text: string) => text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
  // System.Text.Json's default encoder: HTML-sensitive characters and `+` as upper-case \uXXXX.
  const dotnetJson = (value: string) =>
    JSON.stringify(value)
      .slice(1, -1)
      .replace(/\\"/g, '\\u0022')
      .replace(/[+&<>'`]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);

  it.each([
    ['form-encoded (~ as %7E)', formEncoded(azureSecret)],
    ['form-encoded with lower-case hex', lowerHex(formEncoded(azureSecret))],
    ['form-encoded with spaces and punctuation', formEncoded(passphrase)],
    ['form-encoded, spaces as %20', encodeURIComponent(passphrase).replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)],
    ['URL-encoded with lower-case hex', lowerHex(encodeURIComponent(apiKey))],
    ['double URL-encoded', encodeURIComponent(encodeURIComponent(apiKey))],
    ['double form-encoded (%257E)', formEncoded(formEncoded(azureSecret))],
    ['JSON with an escaped slash', JSON.stringify(apiKey).slice(1, -1).replace(/\//g, '\\/')],
    ['JSON from .NET (\\u002B)', dotnetJson(apiKey)],
    ['JSON from .NET, HTML-sensitive characters', dotnetJson(htmlish)],
    ['JSON from .NET, lower-case hex', dotnetJson(htmlish).toLowerCase()],
    ['JSON with every escape at once', dotnetJson(apiKey).replace(/\//g, '\\/')],
    ['inside base64 one byte into a group', b64(`a${azureSecret}`)],
    ['a Basic header of form-encoded client_id:secret (RFC 6749)', b64(`3f1c2a9e-client:${formEncoded(azureSecret)}`)],
  ])('removes the secret %s', (form, quoted) => {
    // Whole: every character of the encoded secret goes, nothing around it. Inside base64 the
    // groups the secret shares with its neighbours stay (they hold at most two of its bytes).
    const sharedGroups: Record<string, string> = {
      'inside base64 one byte into a group': 'invalid value YUFi[redacted] (trace 7d1e)',
      'a Basic header of form-encoded client_id:secret (RFC 6749)': 'invalid value M2YxYzJhOWUtY2xpZW50OkFi[redacted]bg== (trace 7d1e)',
    };
    expect(scrubSyncError(`invalid value ${quoted} (trace 7d1e)`, secrets)).toBe(sharedGroups[form] ?? 'invalid value [redacted] (trace 7d1e)');
  });

  it('leaves an ordinary upstream error with encoded text and JSON escapes as it was', () => {
    const text =
      'AADSTS7000215: Invalid client secret provided. {"error":"invalid_client","error_uri":"https:\\/\\/login.microsoftonline.com\\/error?code=7000215\\u0026x=1"} ' +
      `redirect=${encodeURIComponent('https://example.com/cb?a=1&b=~x')} body=${b64('grant_type=client_credentials&scope=https%3A%2F%2Fapi')} 2024-05-01 10:00:00Z`;
    expect(scrubSyncError(text, secrets)).toBe(text);
  });

  it('ignores secrets too short to be told apart from ordinary words, in any encoding', () => {
    expect(scrubSyncError('a+b%7E c\\u002B', ['a b', '~c', '+'])).toBe('a+b%7E c\\u002B');
  });
});
