import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, IsIn, IsInt, IsIP, IsNumber, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength, ValidateIf, validateSync } from 'class-validator';
import { describeDataDirFailure } from './data-dir-failure';

/** Verified tokens whose verdict is remembered (AUTH_TOKEN_CACHE_SIZE). */
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;
/** The longest bearer token lifetime accepted (AUTH_JWT_MAX_LIFETIME_SECONDS): 30 days, as the token command's longest. */
export const DEFAULT_TOKEN_MAX_LIFETIME_SECONDS = 30 * 24 * 3600;

/** Start-up refused: the message is one line, safe to print (it never contains a secret). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The environment, as read: every variable of API.md "Running and configuration". */
class EnvironmentSchema {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  // An IPv4 or IPv6 address (`::` for every interface of both, where the host has IPv6), or localhost:
  // a name would be looked up, and a failed lookup read as the database's.
  @IsOptional()
  @ValidateIf((env: EnvironmentSchema) => env.HOST !== 'localhost')
  @IsIP(undefined, { message: 'HOST must be an IP address to listen on (0.0.0.0, ::, 127.0.0.1)' })
  HOST?: string;

  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  @IsOptional()
  @IsString()
  DATA_DIR?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'AUTH_JWT_SECRET must be at least 32 bytes' })
  AUTH_JWT_SECRET?: string;

  @IsOptional()
  @IsString()
  AUTH_JWT_ISSUER?: string;

  // Sent by the scraper in an Authorization header: a bearer token's characters (RFC 6750 b64token).
  @IsOptional()
  @MinLength(32, { message: 'METRICS_TOKEN must be at least 32 characters' })
  @Matches(/^[A-Za-z0-9\-._~+/]+=*$/, { message: 'METRICS_TOKEN must be a bearer token: letters, digits and -._~+/ (then = padding only)' })
  METRICS_TOKEN?: string;

  @IsOptional()
  @IsString()
  AUTH_JWT_AUDIENCE?: string;

  @IsOptional()
  @IsUrl({ protocols: ['https'], require_tld: false, require_protocol: true }, { message: 'AUTH_JWKS_URL must be an https URL' })
  AUTH_JWKS_URL?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  AUTH_TOKEN_CACHE_SIZE?: number;

  // A minute to a year: a token that outlives that is a credential nothing can revoke.
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(31_536_000)
  AUTH_JWT_MAX_LIFETIME_SECONDS?: number;

  @IsOptional()
  @IsString()
  ENCRYPTION_KEYS?: string;

  @IsOptional()
  @IsString()
  ENCRYPTION_ACTIVE_KEY_ID?: string;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  DATABASE_POOL_SIZE?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(64)
  MAPPING_WORKERS?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(64)
  DELIVERY_WORKERS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  DELIVERY_MAX_ATTEMPTS?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  DELIVERY_BACKOFF_BASE_MS?: number;

  // pg-boss refuses an expiry of a day or more.
  @IsOptional()
  @IsInt()
  @Min(2)
  @Max(86_399)
  DELIVERY_JOB_TIMEOUT_SECONDS?: number;

  // A minute step of an hour's cron; 0 turns the sweep off.
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(60)
  DELIVERY_SWEEP_MINUTES?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  ALERT_PAUSE_AFTER_FAILURES?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3600)
  SHUTDOWN_TIMEOUT_SECONDS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3600)
  ALERT_RETRY_DELAY_SECONDS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  WEBHOOK_RATE_LIMIT_BURST?: number;

  // Days kept; 0 keeps forever. At most a century (a cutoff stays a valid date).
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(36_500)
  RETENTION_WEBHOOK_EVENTS_DAYS?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(36_500)
  RETENTION_SYNC_RUNS_DAYS?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(36_500)
  RETENTION_EXPORT_RUNS_DAYS?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(36_500)
  RETENTION_AUDIT_EVENTS_DAYS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  RETENTION_BATCH_SIZE?: number;

  // A rate, so fractions are allowed: 0.5 is one delivery every two seconds.
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.000001)
  @Max(1_000_000)
  WEBHOOK_RATE_LIMIT_PER_SECOND?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  RATE_LIMIT_READS_PER_MINUTE?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  RATE_LIMIT_WRITES_PER_MINUTE?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000)
  CONNECTION_TEST_RATE_LIMIT_PER_MINUTE?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  RATE_LIMIT_PUBLIC_PER_MINUTE?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE?: number;

  @IsOptional()
  @Matches(/^(https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?)(\s*,\s*https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?)*$/, {
    message: 'CORS_ORIGINS must be comma-separated origins (scheme://host[:port], no path)',
  })
  CORS_ORIGINS?: string;

  @IsOptional()
  @IsIn(['true', 'false'], { message: 'EGRESS_ALLOW_PRIVATE must be true or false' })
  EGRESS_ALLOW_PRIVATE?: string;

  @IsOptional()
  @IsUrl({ protocols: ['https'], require_tld: false, require_protocol: true }, { message: 'DYNAMICS_AUTHORITY_URL must be an https URL' })
  DYNAMICS_AUTHORITY_URL?: string;

  @IsOptional()
  @Matches(/^(true|false|\d{1,2}|(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+))*)$/, {
    message: 'TRUST_PROXY must be true, false, a hop count, loopback/linklocal/uniquelocal or a list of addresses',
  })
  TRUST_PROXY?: string;
}

export type AppConfigValues = { -readonly [K in keyof AppConfig as AppConfig[K] extends (...args: never[]) => unknown ? never : K]: AppConfig[K] };

/** Typed, validated configuration; the single place the process environment is read. */
export class AppConfig {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly port: number;
  /** The address the HTTP server listens on. */
  readonly host: string;
  /** Unset: the embedded PostgreSQL in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly databasePoolSize: number;
  /** Worker threads that run large previews and exports off the event loop; 0: all on it. */
  readonly mappingWorkers: number;
  /** Concurrent delivery jobs of this instance; 0: an API-only instance that runs no delivery. */
  readonly deliveryWorkers: number;
  /** Attempts of one delivery before its run is `failed`. */
  readonly deliveryMaxAttempts: number;
  /** The first retry's delay; it doubles each attempt, with jitter, up to an hour. */
  readonly deliveryBackoffBaseMs: number;
  /** How long a delivery job may stay active before the queue takes its worker for lost and hands it to another. */
  readonly deliveryJobTimeoutSeconds: number;
  /** How often a worker instance looks for runs whose delivery job was given up (DeliveryService.requeueStranded); 0: never. */
  readonly deliverySweepMinutes: number;
  /** Failed delivery attempts in a row that pause a config's deliveries (and alert); 0: never paused. */
  readonly alertPauseAfterFailures: number;
  /** The first retry's delay of an alert its endpoint did not take; it doubles each retry (pg-boss backoff). */
  readonly alertRetryDelaySeconds: number;
  /** How long the drain after SIGTERM/SIGINT may take before the process gives up on it and exits 1 (src/main.ts). */
  readonly shutdownTimeoutSeconds: number;
  /** Days stored webhook events, sync runs and export runs (with their rows) are kept; 0: forever (src/retention). */
  readonly retentionWebhookEventsDays: number;
  readonly retentionSyncRunsDays: number;
  readonly retentionExportRunsDays: number;
  /** Days audit events are kept; 0 (the default): forever. Never shorter than the others. */
  readonly retentionAuditEventsDays: number;
  /** Rows deleted per statement by the retention job. */
  readonly retentionBatchSize: number;
  readonly jwtSecret: string;
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: string | undefined;
  readonly jwksUrl: string | undefined;
  /** Verified tokens remembered (their verdict, by digest) so a token's signature is checked once; 0: on every request. */
  readonly tokenCacheSize: number;
  /** The longest lifetime (`exp` − `iat`) of a bearer token accepted, in seconds. */
  readonly jwtMaxLifetimeSeconds: number;
  /** The bearer token GET /metrics requires; unset: metrics are off (404). */
  readonly metricsToken: string | undefined;
  readonly encryptionKeys: string;
  readonly encryptionActiveKeyId: string | undefined;
  readonly logLevel: string;
  /** Inbound webhook deliveries per integration: a burst, then a steady rate per second. */
  readonly webhookRateLimitBurst: number;
  readonly webhookRateLimitPerSecond: number;
  /** Reads (GET) allowed per bearer token per minute. */
  readonly rateLimitReadsPerMinute: number;
  /** Writes (POST/PUT/PATCH/DELETE) allowed per bearer token per minute. */
  readonly rateLimitWritesPerMinute: number;
  /** Connection tests per config per minute, per instance: each is a request the vendor may bill (Xledger counts requests). */
  readonly connectionTestsPerMinute: number;
  /** Requests to unauthenticated routes (inbound webhooks) allowed per client IP per minute. */
  readonly rateLimitPublicPerMinute: number;
  /** Refused authentications (no, bad or expired token) allowed per client IP per minute; then 429 before any check. */
  readonly rateLimitUnauthenticatedPerMinute: number;
  /** Browser origins allowed to call the API cross-origin; empty: none (no CORS headers at all). */
  readonly corsOrigins: string[];
  /** Outbound requests may reach loopback and private addresses (tests, on-premise systems). */
  readonly egressAllowPrivate: boolean;
  /** The Microsoft identity platform's base (Dynamics 365 tokens). */
  readonly dynamicsAuthorityUrl: string;
  /** Which proxies' X-Forwarded-For decides the client IP (Fastify's `trustProxy`, as Express's `trust proxy`). */
  readonly trustProxy: boolean | number | string;

  constructor(values: AppConfigValues) {
    Object.assign(this, values);
  }

  /** The same configuration on another database (the embedded one, once started). */
  withDatabaseUrl(databaseUrl: string): AppConfig {
    return new AppConfig({ ...this, databaseUrl });
  }

  /** Never print secrets, even by accident. */
  toJSON(): object {
    return { ...this, jwtSecret: '[redacted]', encryptionKeys: '[redacted]', metricsToken: this.metricsToken === undefined ? undefined : '[redacted]' };
  }
}

interface DevSecrets {
  AUTH_JWT_SECRET: string;
  ENCRYPTION_KEYS: string;
}

export const DEV_SECRETS_FILE = 'dev-secrets.json';

/**
 * Development convenience: secrets generated once into DATA_DIR, so data encrypted yesterday
 * still decrypts today. Never used in production.
 */
function loadOrCreateDevSecrets(dataDir: string, warn: (line: string) => void): DevSecrets {
  const file = join(dataDir, DEV_SECRETS_FILE);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  const secrets: DevSecrets = {
    AUTH_JWT_SECRET: randomBytes(48).toString('base64url'),
    ENCRYPTION_KEYS: `dev1:${randomBytes(32).toString('base64')}`,
  };
  try {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const line = describeDataDirFailure(error);
    throw line ? new ConfigError(line) : error;
  }
  warn(`generated development AUTH_JWT_SECRET and ENCRYPTION_KEYS into ${file}; set them explicitly in production`);
  return secrets;
}

// Numeric variables arrive as text: whole counts, and the one rate that may be a fraction.
const NUMBER_SYNTAX: Record<string, RegExp> = {
  ...Object.fromEntries(
    [
      'PORT',
      'DATABASE_POOL_SIZE',
      'MAPPING_WORKERS',
      'DELIVERY_WORKERS',
      'DELIVERY_MAX_ATTEMPTS',
      'DELIVERY_BACKOFF_BASE_MS',
      'DELIVERY_JOB_TIMEOUT_SECONDS',
      'DELIVERY_SWEEP_MINUTES',
      'ALERT_PAUSE_AFTER_FAILURES',
      'ALERT_RETRY_DELAY_SECONDS',
      'SHUTDOWN_TIMEOUT_SECONDS',
      'RETENTION_WEBHOOK_EVENTS_DAYS',
      'RETENTION_SYNC_RUNS_DAYS',
      'RETENTION_EXPORT_RUNS_DAYS',
      'RETENTION_AUDIT_EVENTS_DAYS',
      'RETENTION_BATCH_SIZE',
      'AUTH_TOKEN_CACHE_SIZE',
      'AUTH_JWT_MAX_LIFETIME_SECONDS',
      'WEBHOOK_RATE_LIMIT_BURST',
      'RATE_LIMIT_READS_PER_MINUTE',
      'RATE_LIMIT_WRITES_PER_MINUTE',
      'CONNECTION_TEST_RATE_LIMIT_PER_MINUTE',
      'RATE_LIMIT_PUBLIC_PER_MINUTE',
      'RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE',
    ].map((key) => [key, /^\d+$/]),
  ),
  WEBHOOK_RATE_LIMIT_PER_SECOND: /^\d+(\.\d+)?$/,
};

/** One rule per numeric variable (`PORT must be a whole number from 0 to 65535`), not each constraint it broke. */
function numberRule(key: string): string {
  const bounds = getMetadataStorage()
    .getTargetValidationMetadatas(EnvironmentSchema, '', true, false)
    .filter((m) => m.propertyName === key);
  const bound = (name: string) => bounds.find((m) => m.name === name)?.constraints[0] as number | undefined;
  const [min, max] = [bound('min'), bound('max')];
  const kind = NUMBER_SYNTAX[key].test('0.5') ? 'a number' : 'a whole number';
  return `${key} must be ${kind}${min !== undefined && max !== undefined ? ` from ${min} to ${max}` : ''}`;
}

export function loadAppConfig(env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = (line) => console.warn(`warning: ${line}`)): AppConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') raw[key] = value;
  // Text that is not a number stays text, so the schema names the variable that is wrong.
  for (const [key, syntax] of Object.entries(NUMBER_SYNTAX)) {
    if (raw[key] !== undefined && syntax.test(String(raw[key]))) raw[key] = Number(raw[key]);
  }
  const parsed = plainToInstance(EnvironmentSchema, raw);
  const errors = validateSync(parsed, { whitelist: false, skipMissingProperties: false });
  if (errors.length > 0) {
    // Only the variable names and the rule: the values may be secrets.
    const problems = errors.map((e) => (e.property in NUMBER_SYNTAX ? numberRule(e.property) : Object.values(e.constraints ?? {}).join(', ') || `${e.property} is invalid`));
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }

  const nodeEnv = (parsed.NODE_ENV ?? 'development') as AppConfig['nodeEnv'];
  const dataDir = resolve(parsed.DATA_DIR ?? './.data');
  let jwtSecret = parsed.AUTH_JWT_SECRET;
  let encryptionKeys = parsed.ENCRYPTION_KEYS;

  if (nodeEnv === 'production') {
    const missing = [!jwtSecret && !parsed.AUTH_JWKS_URL && 'AUTH_JWT_SECRET', !encryptionKeys && 'ENCRYPTION_KEYS'].filter(Boolean);
    if (missing.length > 0) throw new ConfigError(`${missing.join(' and ')} must be set when NODE_ENV=production`);
    // An identity provider signs tokens for its other applications too: without the audience checked, theirs would do here.
    if (parsed.AUTH_JWKS_URL && !parsed.AUTH_JWT_AUDIENCE) {
      throw new ConfigError('AUTH_JWT_AUDIENCE must be set when AUTH_JWKS_URL is used with NODE_ENV=production: the identity provider signs tokens for other applications too');
    }
  } else if (!jwtSecret || !encryptionKeys) {
    const dev = loadOrCreateDevSecrets(dataDir, warn);
    jwtSecret ??= dev.AUTH_JWT_SECRET;
    encryptionKeys ??= dev.ENCRYPTION_KEYS;
  }

  const databasePoolSize = parsed.DATABASE_POOL_SIZE ?? 10;
  const deliveryWorkers = parsed.DELIVERY_WORKERS ?? 2;
  if (deliveryWorkers >= databasePoolSize) {
    // Each would hold a connection: the API (and the alert and retention jobs) would wait on a pool with none left.
    throw new ConfigError(
      `DELIVERY_WORKERS (${deliveryWorkers}) must be less than DATABASE_POOL_SIZE (${databasePoolSize}): each running delivery holds one of the pool's connections for its whole length`,
    );
  }

  return new AppConfig({
    nodeEnv,
    port: parsed.PORT ?? 3000,
    host: parsed.HOST ?? '0.0.0.0',
    databaseUrl: parsed.DATABASE_URL,
    dataDir,
    databasePoolSize,
    // One core stays with the event loop (HTTP, the database): the others map records.
    mappingWorkers: parsed.MAPPING_WORKERS ?? Math.min(4, Math.max(1, availableParallelism() - 1)),
    deliveryWorkers,
    deliveryMaxAttempts: parsed.DELIVERY_MAX_ATTEMPTS ?? 8,
    deliveryBackoffBaseMs: parsed.DELIVERY_BACKOFF_BASE_MS ?? 30_000,
    deliveryJobTimeoutSeconds: parsed.DELIVERY_JOB_TIMEOUT_SECONDS ?? 900,
    deliverySweepMinutes: parsed.DELIVERY_SWEEP_MINUTES ?? 10,
    alertPauseAfterFailures: parsed.ALERT_PAUSE_AFTER_FAILURES ?? 5,
    alertRetryDelaySeconds: parsed.ALERT_RETRY_DELAY_SECONDS ?? 30,
    // A delivery's vendor request may take its whole 30 s timeout before the rest closes; out
    // before the SIGKILL of the 40 s grace period docs/operations.md asks for.
    shutdownTimeoutSeconds: parsed.SHUTDOWN_TIMEOUT_SECONDS ?? 38,
    ...retentionSettings(parsed),
    jwtSecret: jwtSecret ?? '',
    jwtIssuer: parsed.AUTH_JWT_ISSUER,
    jwtAudience: parsed.AUTH_JWT_AUDIENCE,
    jwksUrl: parsed.AUTH_JWKS_URL,
    egressAllowPrivate: parsed.EGRESS_ALLOW_PRIVATE === 'true',
    dynamicsAuthorityUrl: (parsed.DYNAMICS_AUTHORITY_URL ?? 'https://login.microsoftonline.com').replace(/\/+$/, ''),
    tokenCacheSize: parsed.AUTH_TOKEN_CACHE_SIZE ?? DEFAULT_TOKEN_CACHE_SIZE,
    jwtMaxLifetimeSeconds: parsed.AUTH_JWT_MAX_LIFETIME_SECONDS ?? DEFAULT_TOKEN_MAX_LIFETIME_SECONDS,
    metricsToken: parsed.METRICS_TOKEN,
    encryptionKeys: encryptionKeys ?? '',
    encryptionActiveKeyId: parsed.ENCRYPTION_ACTIVE_KEY_ID,
    logLevel: parsed.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    webhookRateLimitBurst: parsed.WEBHOOK_RATE_LIMIT_BURST ?? 100,
    webhookRateLimitPerSecond: parsed.WEBHOOK_RATE_LIMIT_PER_SECOND ?? 10,
    rateLimitReadsPerMinute: parsed.RATE_LIMIT_READS_PER_MINUTE ?? 3000,
    rateLimitWritesPerMinute: parsed.RATE_LIMIT_WRITES_PER_MINUTE ?? 300,
    connectionTestsPerMinute: parsed.CONNECTION_TEST_RATE_LIMIT_PER_MINUTE ?? 6,
    // Generous: one provider delivers the webhooks of many organizations from few addresses.
    rateLimitPublicPerMinute: parsed.RATE_LIMIT_PUBLIC_PER_MINUTE ?? 1200,
    // A client whose token expired retries a few times; a scanner is stopped after a minute's worth.
    rateLimitUnauthenticatedPerMinute: parsed.RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE ?? 120,
    corsOrigins: (parsed.CORS_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
  });
}

/**
 * The retention settings. Audit events outlive what they describe: when they are pruned at all,
 * they are kept at least as long as each other kind (and a kind kept forever keeps them forever).
 */
function retentionSettings(parsed: EnvironmentSchema) {
  const settings = {
    retentionWebhookEventsDays: parsed.RETENTION_WEBHOOK_EVENTS_DAYS ?? 90,
    retentionSyncRunsDays: parsed.RETENTION_SYNC_RUNS_DAYS ?? 90,
    retentionExportRunsDays: parsed.RETENTION_EXPORT_RUNS_DAYS ?? 90,
    retentionAuditEventsDays: parsed.RETENTION_AUDIT_EVENTS_DAYS ?? 0,
    retentionBatchSize: parsed.RETENTION_BATCH_SIZE ?? 1000,
  };
  const audit = settings.retentionAuditEventsDays;
  if (audit > 0) {
    const others: [string, number][] = [
      ['RETENTION_WEBHOOK_EVENTS_DAYS', settings.retentionWebhookEventsDays],
      ['RETENTION_SYNC_RUNS_DAYS', settings.retentionSyncRunsDays],
      ['RETENTION_EXPORT_RUNS_DAYS', settings.retentionExportRunsDays],
    ];
    const longer = others.find(([, days]) => days === 0 || days > audit);
    if (longer) {
      const kept = longer[1] === 0 ? 'forever (0)' : `${longer[1]} days`;
      throw new ConfigError(`RETENTION_AUDIT_EVENTS_DAYS (${audit}) must be 0 (keep forever) or at least ${longer[0]}, which keeps its rows ${kept}`);
    }
  }
  return settings;
}

function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  return /^\d+$/.test(value) ? Number(value) : value;
}
