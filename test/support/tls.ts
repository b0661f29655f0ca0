// A certificate for local HTTPS fakes (vendor APIs, token endpoints): made per run, so no key is
// checked in and nothing expires in the repository. Trusted by passing `cert` as a client's `ca`
// in-process, or `caFile` as NODE_EXTRA_CA_CERTS to a child process.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TestCertificate {
  /** PEM private key (EC P-256). */
  key: string;
  /** PEM self-signed certificate for localhost, 127.0.0.1 and ::1: trusted as is, there is no CA above it. */
  cert: string;
  /** A file holding `cert`; removed at exit, or by a later run once a day old (jest's workers skip exit listeners). */
  caFile: string;
}

export const TEST_CERTIFICATE_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] } as const;

let pending: Promise<TestCertificate> | undefined;

/** The run's certificate: made on the first call, the same one after (per module registry: once per jest test file). */
export function testCertificate(): Promise<TestCertificate> {
  pending ??= create().catch((error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}

async function create(): Promise<TestCertificate> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    // EC: generated in milliseconds, where RSA 2048 takes a noticeable fraction of a second.
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    // An hour back for clock skew between a child process and this one; a week covers any run.
    notBeforeDate: new Date(now - 3_600_000),
    notAfterDate: new Date(now + 7 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...TEST_CERTIFICATE_NAMES.dns.map((value) => ({ type: 2 as const, value })), ...TEST_CERTIFICATE_NAMES.ip.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  const dir = join(tmpdir(), 'meander-test-tls');
  mkdirSync(dir, { recursive: true });
  removeStale(dir, now - 86_400_000);
  const caFile = join(dir, `${process.pid}-${pems.fingerprint.replace(/:/g, '').slice(0, 16)}.pem`);
  writeFileSync(caFile, pems.cert);
  process.once('exit', () => rmSync(caFile, { force: true }));
  return { key: pems.private, cert: pems.cert, caFile };
}

function removeStale(dir: string, before: number): void {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    try {
      if (statSync(file).mtimeMs < before) rmSync(file, { force: true });
    } catch {
      // Another process removed it first.
    }
  }
}
