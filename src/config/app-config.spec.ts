import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEV_SECRETS_FILE, loadAppConfig } from './app-config';

const KEYS = 'k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const SECRET = 'a-production-secret-of-at-least-32-bytes';

describe('configuration', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'meander-config-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses a DATA_DIR it cannot write with one line naming the variable, not a stack', () => {
    writeFileSync(join(dataDir, 'a-file'), '');
    // A file where the directory should be (as a root-owned volume refuses a non-root process: EACCES).
    const refusal = (() => {
      try {
        loadAppConfig({ DATA_DIR: join(dataDir, 'a-file', 'data') }, () => undefined);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as Error).message).toMatch(/^DATA_DIR is not a directory this process can write \(ENOTDIR on mkdir\)/);
  });

  it('applies the documented defaults', () => {
    const config = loadAppConfig({ DATA_DIR: dataDir }, () => undefined);
    expect(config.port).toBe(3000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe(dataDir);
    expect(config).toMatchObject({
      webhookRateLimitBurst: 100,
      webhookRateLimitPerSecond: 10,
      rateLimitReadsPerMinute: 3000,
      rateLimitWritesPerMinute: 300,
      rateLimitPublicPerMinute: 1200,
      trustProxy: false,
      corsOrigins: [],
      tokenCacheSize: 10_000,
      jwtMaxLifetimeSeconds: 30 * 24 * 3600,
    });
  });

  it('reads rate limits and the proxy setting, and refuses nonsense', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    expect(load({ RATE_LIMIT_WRITES_PER_MINUTE: '20', RATE_LIMIT_PUBLIC_PER_MINUTE: '40', TRUST_PROXY: '2' })).toMatchObject({
      rateLimitWritesPerMinute: 20,
      rateLimitPublicPerMinute: 40,
      trustProxy: 2,
    });
    expect(load({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(load({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(() => load({ RATE_LIMIT_WRITES_PER_MINUTE: '0' })).toThrow(ConfigError);
    expect(() => load({ RATE_LIMIT_PUBLIC_PER_MINUTE: 'lots' })).toThrow(ConfigError);
    // The webhook rate is per second and may be a fraction; the others are whole counts.
    expect(load({ WEBHOOK_RATE_LIMIT_PER_SECOND: '0.5' }).webhookRateLimitPerSecond).toBe(0.5);
    for (const bad of ['0', '-1', '1e3', 'fast', '0.0000001']) expect(() => load({ WEBHOOK_RATE_LIMIT_PER_SECOND: bad })).toThrow(/WEBHOOK_RATE_LIMIT_PER_SECOND/);
    expect(() => load({ WEBHOOK_RATE_LIMIT_BURST: '1.5' })).toThrow(/WEBHOOK_RATE_LIMIT_BURST/);
    // 0 turns the verdict cache off (every request's token verified); it is bounded above.
    expect(load({ AUTH_TOKEN_CACHE_SIZE: '0' }).tokenCacheSize).toBe(0);
    for (const bad of ['-1', '2000000', 'many', '10.5']) expect(() => load({ AUTH_TOKEN_CACHE_SIZE: bad })).toThrow(/AUTH_TOKEN_CACHE_SIZE/);
    // A token's longest lifetime: a minute to a year, never unbounded (nothing revokes a token).
    expect(load({ AUTH_JWT_MAX_LIFETIME_SECONDS: '3600' }).jwtMaxLifetimeSeconds).toBe(3600);
    for (const bad of ['0', '59', '31536001', 'forever', '3600.5']) {
      expect(() => load({ AUTH_JWT_MAX_LIFETIME_SECONDS: bad })).toThrow('AUTH_JWT_MAX_LIFETIME_SECONDS must be a whole number from 60 to 31536000');
    }
    expect(() => load({ TRUST_PROXY: 'everyone; rm -rf' })).toThrow(/TRUST_PROXY/);
    expect(load({ CORS_ORIGINS: 'https://admin.example, http://localhost:5173' }).corsOrigins).toEqual(['https://admin.example', 'http://localhost:5173']);
    expect(load({}).corsOrigins).toEqual([]);
    expect(() => load({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
    expect(() => load({ CORS_ORIGINS: 'https://admin.example/path' })).toThrow(/CORS_ORIGINS/);
    for (const host of ['::', '127.0.0.1', '::1', '10.1.2.3', 'localhost']) expect(load({ HOST: host }).host).toBe(host);
    for (const bad of ['example.com', '0.0.0.0; rm', 'http://x', '300.1.1.1', '1.2.3', ':::1::']) expect(() => load({ HOST: bad })).toThrow(/HOST/);
  });

  it('reads the delivery and egress settings, and refuses nonsense', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    expect(load({})).toMatchObject({ deliveryJobTimeoutSeconds: 900, egressAllowPrivate: false, dynamicsAuthorityUrl: 'https://login.microsoftonline.com' });
    expect(load({ DELIVERY_JOB_TIMEOUT_SECONDS: '3', EGRESS_ALLOW_PRIVATE: 'true', DYNAMICS_AUTHORITY_URL: 'https://127.0.0.1:8443/' })).toMatchObject({
      deliveryJobTimeoutSeconds: 3,
      egressAllowPrivate: true,
      // No trailing slash: the tenant's path is appended.
      dynamicsAuthorityUrl: 'https://127.0.0.1:8443',
    });
    expect(load({ EGRESS_ALLOW_PRIVATE: 'false' }).egressAllowPrivate).toBe(false);
    // pg-boss refuses an expiry under a second or of a day or more.
    for (const bad of ['1', '86400', 'soon', '2.5']) expect(() => load({ DELIVERY_JOB_TIMEOUT_SECONDS: bad })).toThrow(/DELIVERY_JOB_TIMEOUT_SECONDS/);
    for (const bad of ['yes', '1', 'TRUE ']) expect(() => load({ EGRESS_ALLOW_PRIVATE: bad })).toThrow(/EGRESS_ALLOW_PRIVATE/);
    // Each running delivery holds a pool connection: at least one is left for everything else.
    expect(load({ DATABASE_POOL_SIZE: '3', DELIVERY_WORKERS: '2' })).toMatchObject({ databasePoolSize: 3, deliveryWorkers: 2 });
    expect(() => load({ DATABASE_POOL_SIZE: '2', DELIVERY_WORKERS: '2' })).toThrow(/DELIVERY_WORKERS \(2\) must be less than DATABASE_POOL_SIZE \(2\)/);
    expect(() => load({ DELIVERY_WORKERS: '10' })).toThrow(/DELIVERY_WORKERS \(10\) must be less than DATABASE_POOL_SIZE \(10\)/);
    expect(load({ DATABASE_POOL_SIZE: '1', DELIVERY_WORKERS: '0' }).deliveryWorkers).toBe(0);
    expect(load({}).deliverySweepMinutes).toBe(10);
    expect(load({ DELIVERY_SWEEP_MINUTES: '0' }).deliverySweepMinutes).toBe(0);
    for (const bad of ['-1', '61', '2.5', 'often']) expect(() => load({ DELIVERY_SWEEP_MINUTES: bad })).toThrow(/DELIVERY_SWEEP_MINUTES/);
    for (const bad of ['http://login.example', 'login.microsoftonline.com']) expect(() => load({ DYNAMICS_AUTHORITY_URL: bad })).toThrow(/DYNAMICS_AUTHORITY_URL/);
  });

  it('reads the alert settings: pause after 5 failed attempts, retry after 30 s, and refuses nonsense', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    expect(load({})).toMatchObject({ alertPauseAfterFailures: 5, alertRetryDelaySeconds: 30 });
    expect(load({ ALERT_PAUSE_AFTER_FAILURES: '0', ALERT_RETRY_DELAY_SECONDS: '1' })).toMatchObject({ alertPauseAfterFailures: 0, alertRetryDelaySeconds: 1 });
    for (const bad of ['-1', '1001', 'often', '2.5']) expect(() => load({ ALERT_PAUSE_AFTER_FAILURES: bad })).toThrow(/ALERT_PAUSE_AFTER_FAILURES/);
    for (const bad of ['0', '3601', 'soon']) expect(() => load({ ALERT_RETRY_DELAY_SECONDS: bad })).toThrow(/ALERT_RETRY_DELAY_SECONDS/);
  });

  it('reads SHUTDOWN_TIMEOUT_SECONDS: 38 s by default (within a 40 s grace period), refusing nonsense in one line naming it', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    expect(load({}).shutdownTimeoutSeconds).toBe(38);
    expect(load({ SHUTDOWN_TIMEOUT_SECONDS: '1' }).shutdownTimeoutSeconds).toBe(1);
    expect(load({ SHUTDOWN_TIMEOUT_SECONDS: '3600' }).shutdownTimeoutSeconds).toBe(3600);
    for (const bad of ['0', '-1', '3601', '2.5', '30s', 'never']) {
      expect(() => load({ SHUTDOWN_TIMEOUT_SECONDS: bad })).toThrow(new ConfigError('invalid configuration: SHUTDOWN_TIMEOUT_SECONDS must be a whole number from 1 to 3600'));
    }
  });

  it('reads the retention settings: 90 days by default, audit events forever, and refuses nonsense', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    expect(load({})).toMatchObject({
      retentionWebhookEventsDays: 90,
      retentionSyncRunsDays: 90,
      retentionExportRunsDays: 90,
      retentionAuditEventsDays: 0,
      retentionBatchSize: 1000,
    });
    expect(load({ RETENTION_WEBHOOK_EVENTS_DAYS: '7', RETENTION_SYNC_RUNS_DAYS: '0', RETENTION_EXPORT_RUNS_DAYS: '30', RETENTION_BATCH_SIZE: '2' })).toMatchObject({
      retentionWebhookEventsDays: 7,
      retentionSyncRunsDays: 0,
      retentionExportRunsDays: 30,
      retentionAuditEventsDays: 0,
      retentionBatchSize: 2,
    });
    for (const key of ['RETENTION_WEBHOOK_EVENTS_DAYS', 'RETENTION_SYNC_RUNS_DAYS', 'RETENTION_EXPORT_RUNS_DAYS', 'RETENTION_AUDIT_EVENTS_DAYS']) {
      for (const bad of ['-1', '1.5', '90d', '36501']) expect(() => load({ [key]: bad })).toThrow(new RegExp(key));
    }
    for (const bad of ['0', '-5', '100001', 'all']) expect(() => load({ RETENTION_BATCH_SIZE: bad })).toThrow(/RETENTION_BATCH_SIZE/);
  });

  it('keeps audit events at least as long as the rows they describe, else refuses to start in one line', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    expect(load({ RETENTION_AUDIT_EVENTS_DAYS: '90' }).retentionAuditEventsDays).toBe(90);
    expect(load({ RETENTION_AUDIT_EVENTS_DAYS: '365', RETENTION_SYNC_RUNS_DAYS: '365' }).retentionAuditEventsDays).toBe(365);
    expect(() => load({ RETENTION_AUDIT_EVENTS_DAYS: '30' })).toThrow(
      new ConfigError('RETENTION_AUDIT_EVENTS_DAYS (30) must be 0 (keep forever) or at least RETENTION_WEBHOOK_EVENTS_DAYS, which keeps its rows 90 days'),
    );
    expect(() => load({ RETENTION_AUDIT_EVENTS_DAYS: '100', RETENTION_EXPORT_RUNS_DAYS: '120' })).toThrow(/at least RETENTION_EXPORT_RUNS_DAYS, which keeps its rows 120 days$/);
    // Another kind kept forever keeps the audit events describing it forever too.
    expect(() => load({ RETENTION_AUDIT_EVENTS_DAYS: '400', RETENTION_SYNC_RUNS_DAYS: '0' })).toThrow(/at least RETENTION_SYNC_RUNS_DAYS, which keeps its rows forever \(0\)$/);
    expect(() => load({ RETENTION_AUDIT_EVENTS_DAYS: '1' })).toThrow(/^[^\n]+$/);
  });

  it('reads METRICS_TOKEN (unset: metrics off), refusing a short or unsendable one without echoing it', () => {
    const load = (env: Record<string, string>) => loadAppConfig({ DATA_DIR: dataDir, ...env }, () => undefined);
    const token = 'metrics-scrape-token-0123456789-abcdefghijklmnop';
    expect(load({}).metricsToken).toBeUndefined();
    expect(load({ METRICS_TOKEN: token }).metricsToken).toBe(token);
    expect(load({ METRICS_TOKEN: 'A'.repeat(32) }).metricsToken).toBe('A'.repeat(32));
    for (const bad of ['x'.repeat(31), `${token} with spaces`, `${token}"`, `${token}\n`]) {
      expect(() => load({ METRICS_TOKEN: bad })).toThrow(/METRICS_TOKEN must be/);
      expect(() => load({ METRICS_TOKEN: bad })).not.toThrow(bad);
    }
    expect(() => load({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be at least 32 characters/);
    expect(JSON.stringify(load({ METRICS_TOKEN: token }))).not.toContain(token);
  });

  it('refuses production start-up without AUTH_JWT_SECRET or ENCRYPTION_KEYS, in one line, generating nothing', () => {
    const attempt = (env: Record<string, string>) => () => loadAppConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ...env }, () => undefined);
    expect(attempt({ ENCRYPTION_KEYS: KEYS })).toThrow(new ConfigError('AUTH_JWT_SECRET must be set when NODE_ENV=production'));
    expect(attempt({ AUTH_JWT_SECRET: SECRET })).toThrow(new ConfigError('ENCRYPTION_KEYS must be set when NODE_ENV=production'));
    expect(attempt({})).toThrow(/^AUTH_JWT_SECRET and ENCRYPTION_KEYS must be set/);
    expect(existsSync(join(dataDir, DEV_SECRETS_FILE))).toBe(false);
    expect(attempt({ AUTH_JWT_SECRET: SECRET, ENCRYPTION_KEYS: KEYS })()).toMatchObject({ nodeEnv: 'production' });
  });

  it("with AUTH_JWKS_URL in production, refuses to start without AUTH_JWT_AUDIENCE (another application's tokens would do); the URL needs its scheme", () => {
    const attempt = (env: Record<string, string>) => () => loadAppConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, ENCRYPTION_KEYS: KEYS, ...env }, () => undefined);
    const jwks = 'https://idp.example/.well-known/jwks.json';
    expect(attempt({ AUTH_JWKS_URL: jwks })).toThrow(/^AUTH_JWT_AUDIENCE must be set when AUTH_JWKS_URL is used with NODE_ENV=production/);
    expect(attempt({ AUTH_JWKS_URL: jwks, AUTH_JWT_AUDIENCE: 'meander-integrations' })()).toMatchObject({ jwksUrl: jwks, jwtAudience: 'meander-integrations' });
    // Development keeps the contract's "checked when set".
    expect(loadAppConfig({ DATA_DIR: dataDir, AUTH_JWKS_URL: jwks }, () => undefined)).toMatchObject({ jwksUrl: jwks, jwtAudience: undefined });
    expect(attempt({ AUTH_JWKS_URL: 'idp.example/jwks.json', AUTH_JWT_AUDIENCE: 'a' })).toThrow(/AUTH_JWKS_URL must be an https URL/);
  });

  it('refuses malformed values without echoing them', () => {
    const short = 'too-short-secret';
    const run = () => loadAppConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: short, ENCRYPTION_KEYS: KEYS, PORT: 'eighty' }, () => undefined);
    expect(run).toThrow(ConfigError);
    try {
      run();
    } catch (error) {
      expect((error as Error).message).toMatch(/AUTH_JWT_SECRET must be at least 32 bytes/);
      expect((error as Error).message).toMatch(/PORT/);
      expect((error as Error).message).not.toContain(short);
      expect((error as Error).message.split('\n')).toHaveLength(1);
    }
    expect(() => loadAppConfig({ DATABASE_URL: 'mysql://x', DATA_DIR: dataDir }, () => undefined)).toThrow(/DATABASE_URL/);
  });

  it('in development generates secrets once into DATA_DIR with a warning, then reuses them', () => {
    const warnings: string[] = [];
    const first = loadAppConfig({ DATA_DIR: dataDir }, (line) => warnings.push(line));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/generated development AUTH_JWT_SECRET and ENCRYPTION_KEYS/);
    const file = join(dataDir, DEV_SECRETS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain(first.jwtSecret);
    const second = loadAppConfig({ DATA_DIR: dataDir }, (line) => warnings.push(line));
    expect(warnings).toHaveLength(1);
    expect(second.jwtSecret).toBe(first.jwtSecret);
    expect(second.encryptionKeys).toBe(first.encryptionKeys);
  });

  it('never prints secrets through JSON', () => {
    const config = loadAppConfig({ AUTH_JWT_SECRET: SECRET, ENCRYPTION_KEYS: KEYS, DATA_DIR: dataDir }, () => undefined);
    expect(JSON.stringify(config)).not.toContain(SECRET);
    expect(JSON.stringify(config)).not.toContain(KEYS.split(':')[1]);
  });
});
