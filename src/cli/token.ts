// npm run token -- --org <uuid> [--role org_admin] [--sub <uuid>] [--ttl <seconds>]
// Prints a development bearer token signed with the secret the server uses (AUTH_JWT_SECRET, or
// the one generated into DATA_DIR).
import { issueToken } from '../auth/issue-token';
import { ROLES, type Role } from '../auth/principal';
import { UUID_PATTERN } from '../common/uuid';
import { loadAppConfig } from '../config/app-config';
import { integerOption, parseCommandArgs, runCommand, UsageError } from './cli-args';

const DEFAULT_TTL_SECONDS = 3600;
/** A development token lives a month at most. */
const MAX_TTL_SECONDS = 30 * 24 * 3600;

const HELP = `
usage: npm run token -- --org <uuid> [--role <role>] [--sub <uuid>] [--ttl <seconds>]

Prints a development bearer token, signed with the secret the service verifies with
(AUTH_JWT_SECRET, or the one generated into DATA_DIR in development).

  --org <uuid>       the organization the token acts in (required for org_admin, only for it)
  --role <role>      ${ROLES.join(', ')} (default: org_admin)
  --sub <uuid>       the user or service the token names (default: a random UUID)
  --ttl <seconds>    lifetime in seconds, 1 to ${MAX_TTL_SECONDS} (30 days); default ${DEFAULT_TTL_SECONDS} (one hour)
  -h, --help         this text
`;

async function main(): Promise<void> {
  const values = parseCommandArgs({
    help: HELP,
    options: { org: { type: 'string' }, role: { type: 'string', default: 'org_admin' }, sub: { type: 'string' }, ttl: { type: 'string', default: String(DEFAULT_TTL_SECONDS) } },
  });
  const role = values.role as Role;
  if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}, not "${values.role}"`);
  if (values.org !== undefined && !UUID_PATTERN.test(values.org)) throw new UsageError(`--org must be an organization's UUID; "${values.org}" is not a UUID`);
  if (role === 'org_admin' && values.org === undefined) throw new UsageError('--org <uuid> is required for --role org_admin');
  if (role !== 'org_admin' && values.org !== undefined) throw new UsageError(`--org is for --role org_admin only: a ${role} token names no organization`);
  if (values.sub !== undefined && !UUID_PATTERN.test(values.sub)) throw new UsageError(`--sub must be a UUID; "${values.sub}" is not one`);
  const ttl = integerOption('ttl', values.ttl ?? String(DEFAULT_TTL_SECONDS), 1, MAX_TTL_SECONDS, 'seconds');
  const config = loadAppConfig(process.env, (line) => console.error(`warning: ${line}`));
  // With a JWKS the service accepts only its identity provider's tokens, whatever secret is set too.
  if (config.jwksUrl) throw new Error('AUTH_JWKS_URL is set: tokens come from your identity provider');
  const token = await issueToken({
    secret: config.jwtSecret,
    role,
    orgId: role === 'org_admin' ? values.org : null,
    sub: values.sub,
    expiresIn: ttl,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  console.log(token);
}

runCommand('token', main);
