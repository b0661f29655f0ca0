import { databaseTarget, describeStartupFailure } from './startup-failure';

const URL_WITH_PASSWORD = 'postgres://meander:s3cret@db.internal:6543/meander_prod?sslmode=require';
const context = { databaseUrl: URL_WITH_PASSWORD, host: '0.0.0.0', port: 3000 };
const failure = (fields: Record<string, unknown>, message = 'failed') => Object.assign(new Error(message), fields);

describe('start-up failure lines', () => {
  it('name the server, database and user of DATABASE_URL, never its password', () => {
    expect(databaseTarget(URL_WITH_PASSWORD)).toEqual({ host: 'db.internal', port: '6543', database: 'meander_prod', user: 'meander' });
    expect(databaseTarget('postgres://localhost/x?host=/var/run/postgresql')).toMatchObject({ host: '/var/run/postgresql', port: '5432', database: 'x' });
    expect(databaseTarget('not a url')).toBeUndefined();
    const line = describeStartupFailure(failure({ code: 'ECONNREFUSED', syscall: 'connect' }), context);
    expect(line).toBe(
      'cannot connect to PostgreSQL at db.internal:6543 (database "meander_prod", user "meander"): connection refused; is PostgreSQL running and listening there? Check the host and port of DATABASE_URL',
    );
    expect(line).not.toContain('s3cret');
  });

  it('say what to fix for each way the connection fails', () => {
    const say = (fields: Record<string, unknown>, message?: string) => describeStartupFailure(failure(fields, message), context);
    expect(say({ code: '3D000' })).toMatch(/: database "meander_prod" does not exist; create it \(createdb meander_prod\) or fix the database name in DATABASE_URL$/);
    expect(say({ code: 'ENOTFOUND', syscall: 'getaddrinfo' })).toMatch(/: host "db.internal" not found; check the host of DATABASE_URL$/);
    expect(say({ code: '28P01' })).toMatch(/: password authentication failed for user "meander"; check the user and password in DATABASE_URL$/);
    expect(say({ code: 'ETIMEDOUT' })).toMatch(/does not answer; .*firewall/);
    expect(say({}, 'Connection terminated due to connection timeout')).toMatch(/no answer within the connection timeout/);
    expect(say({ code: '57P03' })).toMatch(/starting up or shutting down/);
    expect(describeStartupFailure(failure({ code: 'ECONNREFUSED' }), { ...context, embedded: true })).toBe(
      'cannot connect to the embedded PostgreSQL of DATA_DIR: connection refused',
    );
  });

  it('say which port cannot be listened on, and why', () => {
    expect(describeStartupFailure(failure({ code: 'EADDRINUSE', syscall: 'listen' }), context)).toBe(
      'port 3000 on 0.0.0.0 is already in use: stop what listens there, or set PORT to a free port',
    );
    expect(describeStartupFailure(failure({ code: 'EACCES', syscall: 'listen' }), context)).toMatch(/^not allowed to listen on port 3000/);
  });

  it("name DATA_DIR when the embedded database cannot write its files there, and nothing else's refusals", () => {
    const inDataDir = failure({ code: 'EACCES', syscall: 'open', path: '/data/embedded.lock' });
    expect(describeStartupFailure(inDataDir, { ...context, dataDir: '/data' })).toMatch(/^DATA_DIR is not a directory this process can write \(EACCES on open\)/);
    expect(describeStartupFailure(inDataDir, { ...context, dataDir: '/data/' })).toMatch(/^DATA_DIR/);
    expect(describeStartupFailure(failure({ code: 'EACCES', syscall: 'open', path: '/database/x' }), { ...context, dataDir: '/data' })).toBeUndefined();
  });

  it('leave the unexpected to the caller (printed with its stack)', () => {
    expect(describeStartupFailure(failure({ code: '42P01' }, 'relation "x" does not exist'), context)).toBeUndefined();
    expect(describeStartupFailure(new Error('boom'), context)).toBeUndefined();
    expect(describeStartupFailure('a string', context)).toBeUndefined();
  });
});
