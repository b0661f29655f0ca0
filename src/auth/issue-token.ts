import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Role } from './principal';

export interface IssueTokenOptions {
  secret: string;
  role: Role;
  orgId?: string | null;
  sub?: string;
  /** Lifetime in seconds (default one hour). */
  expiresIn?: number;
  issuer?: string;
  audience?: string;
}

/** Signs an HS256 development token the service accepts (npm run token, tests). */
export async function issueToken(options: IssueTokenOptions): Promise<string> {
  const claims: Record<string, unknown> = { role: options.role };
  if (options.orgId) claims['org_id'] = options.orgId;
  // One reading of the clock: two could straddle a second and make the token live a second longer.
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub ?? randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 3600));
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
