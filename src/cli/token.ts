// npm run token -- --org <uuid> --role org_admin [--sub <uuid>] [--ttl <seconds>]
// Prints a development bearer token signed with the secret the server uses (AUTH_JWT_SECRET, or
// the one generated into DATA_DIR).
import { parseArgs } from 'node:util';
import { issueToken } from '../auth/issue-token';
import { ROLES, type Role } from '../auth/principal';
import { UUID_PATTERN } from '../common/uuid';
import { loadAppConfig } from '../config/app-config';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { org: { type: 'string' }, role: { type: 'string', default: 'org_admin' }, sub: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
  });
  const role = values.role as Role;
  if (!ROLES.includes(role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
  if (role === 'org_admin' && !(values.org && UUID_PATTERN.test(values.org))) throw new Error('--org <uuid> is required for org_admin');
  if (values.sub && !UUID_PATTERN.test(values.sub)) throw new Error('--sub must be a UUID');
  const config = loadAppConfig(process.env, (line) => console.error(`warning: ${line}`));
  if (config.jwksUrl && !config.jwtSecret) throw new Error('AUTH_JWKS_URL is set: tokens come from your identity provider');
  const token = await issueToken({
    secret: config.jwtSecret,
    role,
    orgId: role === 'org_admin' ? values.org : null,
    sub: values.sub,
    expiresIn: Number(values.ttl),
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  console.log(token);
}

main().catch((error: unknown) => {
  console.error(`token: ${(error as Error).message}`);
  process.exit(1);
});
