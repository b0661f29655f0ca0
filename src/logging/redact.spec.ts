import { REDACTED, redactDeep, redactText, safeUrl } from './redact';

describe('log redaction', () => {
  it('redacts secret-named keys at any depth', () => {
    const out = redactDeep({
      body: { api_key: 'k', nested: { client_secret: 's', webhook_secret_encrypted: 'enc' } },
      headers: { authorization: 'Bearer x' },
      display_name: 'visible',
    }) as Record<string, any>;
    expect(out.body.api_key).toBe(REDACTED);
    expect(out.body.nested.client_secret).toBe(REDACTED);
    expect(out.body.nested.webhook_secret_encrypted).toBe(REDACTED);
    expect(out.headers.authorization).toBe(REDACTED);
    expect(out.display_name).toBe('visible');
  });

  it('redacts secret shapes inside free text', () => {
    const text = redactText('failed: api_key=sk_live_123 token: abc Bearer eyJa.eyJb.sig enc:v1:k1:AAAA:BBBB:CCCC whsec_QUJDRA==');
    for (const leaked of ['sk_live_123', 'abc', 'eyJa.eyJb.sig', 'enc:v1:k1', 'whsec_QUJDRA']) expect(text).not.toContain(leaked);
    expect(text).toContain('failed:');
  });

  it('redacts each secret shape on its own (the quick pre-check lets none through)', () => {
    const samples = [
      'Bearer abc.def-1',
      'bearer\tabc',
      'eyJhbGci.eyJzdWIi.c2ln',
      'enc:v12:k1:AAAA',
      'whsec_QUJD',
      'PASSWORD=hunter2',
      'apiKey: x1',
      'api-key=x2',
      "client_secret='x3'",
      'Token:x4',
    ];
    for (const sample of samples) expect(redactText(`before ${sample} after`)).not.toContain(sample);
    expect(redactText('org 3f1c… role org_admin GET /v1/x')).toBe('org 3f1c… role org_admin GET /v1/x');
    // An error's name before its message is no secret's name.
    expect(redactText('SecretDecryptionError: cannot decrypt a value of key k1')).toBe('SecretDecryptionError: cannot decrypt a value of key k1');
    expect(redactText('TokenExpiredException: expired at 12:00')).toBe('TokenExpiredException: expired at 12:00');
    expect(redactText('secretError=x5 tokens: x6')).not.toMatch(/x5|x6/);
  });

  it('redacts error messages and stacks', () => {
    const out = redactDeep({ err: new Error('password=hunter2 rejected') }) as Record<string, any>;
    expect(out.err.message).not.toContain('hunter2');
    expect(out.err.stack).not.toContain('hunter2');
  });

  it('keeps only query parameter names', () => {
    expect(safeUrl('/v1/x?access_token=abc&limit=5')).toBe(`/v1/x?access_token=${REDACTED}&limit=${REDACTED}`);
    expect(safeUrl('/v1/x')).toBe('/v1/x');
    expect(safeUrl('/v1/x?')).toBe('/v1/x');
    expect(safeUrl(safeUrl('/v1/x?token=abc'))).toBe(`/v1/x?token=${REDACTED}`);
  });

  it('never throws on a query name, however encoded, and gives the same on a second pass', () => {
    for (const [url, expected] of [
      ['/v1/x?%25=1&b=2', `/v1/x?%25=${REDACTED}&b=${REDACTED}`],
      ['/v1/x?%=1', `/v1/x?%=${REDACTED}`],
      ['/v1/x?a%2=1&%E0%A4%A=2', `/v1/x?a%2=${REDACTED}&%E0%A4%A=${REDACTED}`],
    ]) {
      expect(safeUrl(url)).toBe(expected);
      expect(safeUrl(safeUrl(url))).toBe(expected);
    }
  });
});

describe('redactText and Basic-auth credentials', () => {
  it('redacts a Basic credential (base64 of user:password) but not the word basic', () => {
    const credential = Buffer.from('svc:hunter2-long-password').toString('base64');
    expect(redactText(`sent Authorization: Basic ${credential}`)).toBe(`sent Authorization: Basic ${REDACTED}`);
    expect(redactText('basic configuration is missing')).toBe('basic configuration is missing');
  });
});
