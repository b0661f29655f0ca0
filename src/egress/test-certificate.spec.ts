// Specs test/support/tls.ts: here, in the unit project, because it needs no database (the e2e
// project starts one for every run).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { testCertificate } from '../../test/support/tls';

describe('testCertificate', () => {
  it('is made once and then handed out again', async () => {
    const [first, second] = await Promise.all([testCertificate(), testCertificate()]);
    expect(second).toBe(first);
    expect(await testCertificate()).toBe(first);
  });

  it('is valid now for localhost, 127.0.0.1 and ::1, and for no other name', async () => {
    const x509 = new X509Certificate((await testCertificate()).cert);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(x509.checkHost('example.com')).toBeUndefined();
    expect(x509.checkIP('127.0.0.2')).toBeUndefined();
    const now = Date.now();
    expect(new Date(x509.validFrom).getTime()).toBeLessThan(now);
    expect(new Date(x509.validTo).getTime()).toBeGreaterThan(now + 86_400_000);
  });

  it('is self-signed, with its own key', async () => {
    const { key, cert } = await testCertificate();
    const x509 = new X509Certificate(cert);
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
  });

  it('is written to caFile, for NODE_EXTRA_CA_CERTS', async () => {
    const { cert, caFile } = await testCertificate();
    expect(readFileSync(caFile, 'utf8')).toBe(cert);
  });
});
