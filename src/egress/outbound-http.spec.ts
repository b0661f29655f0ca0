import { spawn } from 'node:child_process';
import type { LookupAddress } from 'node:dns';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, type Server } from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { testCertificate, type TestCertificate } from '../../test/support/tls';
import { EgressRefused, OutboundClient, OutboundError, type OutboundClientOptions } from './outbound-http';

const ROOT = join(__dirname, '..', '..');

interface Fake {
  port: number;
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let certificate: TestCertificate;
const fakes: Fake[] = [];
const clients: OutboundClient[] = [];

beforeAll(async () => {
  certificate = await testCertificate();
});

afterEach(async () => {
  jest.restoreAllMocks();
  for (const client of clients.splice(0)) client.close();
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

/** A local HTTPS fake on every loopback address (::1 too where the machine has IPv6). `keepAliveTimeoutMs`: node's default is 5 s, announced; 0 announces none. */
async function startFake(handler: Handler = (_req, res) => res.end('ok'), keepAliveTimeoutMs?: number): Promise<Fake> {
  const server: Server = createServer({ key: certificate.key, cert: certificate.cert });
  if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
  const fake: Fake = {
    port: 0,
    connections: 0,
    requests: [],
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', () => fake.connections++);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      fake.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      handler(req, res);
    });
  });
  const listen = (host: string) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen('::').catch(() => listen('127.0.0.1'));
  fake.port = (server.address() as { port: number }).port;
  fakes.push(fake);
  return fake;
}

function client(options: Partial<OutboundClientOptions> & { allowPrivate: boolean }): OutboundClient {
  const { allowPrivate, ...rest } = options;
  const created = new OutboundClient({ policy: { allowPrivate }, ca: [certificate.cert], ...rest });
  clients.push(created);
  return created;
}

/** A lookup that answers from a script, one answer per call, and counts the calls. */
function scriptedLookup(...answers: string[]): LookupFunction & { calls: number } {
  const lookup = ((_hostname, options, callback) => {
    const address = answers[Math.min(lookup.calls++, answers.length - 1)];
    const family = address.includes(':') ? 6 : 4;
    if (options.all) callback(null, [{ address, family } satisfies LookupAddress]);
    else callback(null, address, family);
  }) as LookupFunction & { calls: number };
  lookup.calls = 0;
  return lookup;
}

/** Records every socket the clients create and whether it ever connected. */
function watchSockets(): { created: number; connected: number } {
  const seen = { created: 0, connected: 0 };
  const original = Agent.prototype.createConnection;
  jest.spyOn(Agent.prototype, 'createConnection').mockImplementation(function (this: Agent, ...args: Parameters<typeof original>) {
    const socket = original.apply(this, args) as Socket;
    seen.created++;
    socket.once('connect', () => seen.connected++);
    return socket;
  });
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the request to fail');
}

describe('OutboundClient', () => {
  describe('with private destinations allowed', () => {
    it('sends the request and answers status, headers and body', async () => {
      const fake = await startFake((_req, res) => {
        res.setHeader('X-Answer', 'yes');
        res.statusCode = 201;
        res.end('created');
      });
      const response = await client({ allowPrivate: true }).request({
        url: `https://127.0.0.1:${fake.port}/v1/items?page=2`,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer abc' },
        body: '{"a":1}',
      });
      expect(response.status).toBe(201);
      expect(response.headers['x-answer']).toBe('yes');
      expect(response.body.toString()).toBe('created');
      expect(fake.requests).toEqual([
        expect.objectContaining({
          method: 'POST',
          url: '/v1/items?page=2',
          body: '{"a":1}',
          headers: expect.objectContaining({ authorization: 'Bearer abc', 'content-length': '7', host: `127.0.0.1:${fake.port}` }),
        }),
      ]);
    });

    it('reaches a name through DNS (localhost) and verifies its certificate', async () => {
      const fake = await startFake();
      const response = await client({ allowPrivate: true }).request({ url: `https://localhost:${fake.port}/`, method: 'GET' });
      expect(response.body.toString()).toBe('ok');
    });

    it('answers a 4xx or 5xx as an answer, not an error', async () => {
      const fake = await startFake((_req, res) => {
        res.statusCode = 503;
        res.end('busy');
      });
      const response = await client({ allowPrivate: true }).request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' });
      expect(response.status).toBe(503);
    });

    it('reuses its connection for the next request (keep-alive)', async () => {
      const fake = await startFake();
      const outbound = client({ allowPrivate: true });
      for (let i = 0; i < 5; i++) await outbound.request({ url: `https://127.0.0.1:${fake.port}/${i}`, method: 'GET' });
      expect(fake.requests).toHaveLength(5);
      expect(fake.connections).toBe(1);
    });

    // A request written into a connection the server is closing is reset, and a delivery loses an attempt to it.
    it("closes an idle connection a second before the server's announced Keep-Alive timeout", async () => {
      const fake = await startFake(undefined, 3_000);
      const outbound = client({ allowPrivate: true });
      const first = await outbound.request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' });
      expect(first.headers['keep-alive']).toBe('timeout=3');
      // Past the client's 2 s, before the server's 3 s: the old connection is still open on the server's side.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      await outbound.request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' });
      expect(fake.requests).toHaveLength(2);
      expect(fake.connections).toBe(2);
    });

    it('closes an idle connection after `idleSocketMs` when the server announces no timeout', async () => {
      const fake = await startFake(undefined, 0);
      const outbound = client({ allowPrivate: true, idleSocketMs: 1_000 });
      const first = await outbound.request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' });
      expect(first.headers['keep-alive']).toBeUndefined();
      await outbound.request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' });
      expect(fake.connections).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await outbound.request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' });
      expect(fake.requests).toHaveLength(3);
      expect(fake.connections).toBe(2);
    });

    it('does not trust a certificate that is neither in the store nor in `ca`', async () => {
      const fake = await startFake();
      const outbound = new OutboundClient({ policy: { allowPrivate: true } });
      clients.push(outbound);
      const error = await rejection(outbound.request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET' }));
      expect(error).toBeInstanceOf(OutboundError);
      expect(error).toMatchObject({ code: 'network' });
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('https only', () => {
    it.each(['http://127.0.0.1:1/', 'ftp://example.com/', 'ws://example.com/', '/relative/path', 'not a url', 'file:///etc/passwd'])(
      'refuses %s, even with private destinations allowed',
      async (url) => {
        const onRefused = jest.fn();
        const sockets = watchSockets();
        const error = await rejection(client({ allowPrivate: true, onRefused }).request({ url, method: 'GET' }));
        expect(error).toBeInstanceOf(EgressRefused);
        expect(error).toMatchObject({ rule: 'egress_destination_not_allowed' });
        expect(onRefused).toHaveBeenCalledTimes(1);
        expect(onRefused).toHaveBeenCalledWith(error);
        expect(sockets.created).toBe(0);
      },
    );
  });

  describe('with private destinations refused', () => {
    it.each([
      ['127.0.0.1', '127.0.0.1'],
      ['[::1]', '::1'],
      ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
      ['[::ffff:7f00:1]', '::ffff:7f00:1'],
      // The URL parser's other spellings of 127.0.0.1.
      ['2130706433', '127.0.0.1'],
      ['0x7f.1', '127.0.0.1'],
    ])('refuses the IP literal %s before any socket exists', async (host, address) => {
      const fake = await startFake();
      const onRefused = jest.fn();
      const lookup = scriptedLookup('8.8.8.8');
      const sockets = watchSockets();
      const error = await rejection(client({ allowPrivate: false, onRefused, lookup }).request({ url: `https://${host}:${fake.port}/`, method: 'GET' }));
      expect(error).toBeInstanceOf(EgressRefused);
      // The kind of address, for the tenant's trail: the embedded IPv4 address of a mapped one is not in it.
      expect(error).toMatchObject({ rule: 'egress_destination_not_allowed', address, reason: 'loopback' });
      expect(error.message).toContain(address);
      expect(onRefused).toHaveBeenCalledTimes(1);
      expect(onRefused).toHaveBeenCalledWith(error);
      expect(lookup.calls).toBe(0);
      expect(sockets.created).toBe(0);
      expect(fake.connections).toBe(0);
    });

    it('refuses the metadata address as a literal, without a socket', async () => {
      const sockets = watchSockets();
      const lookup = scriptedLookup('8.8.8.8');
      const error = await rejection(client({ allowPrivate: false, lookup }).request({ url: 'https://169.254.169.254/latest/meta-data/', method: 'GET' }));
      expect(error).toMatchObject({ name: 'EgressRefused', host: '169.254.169.254', address: '169.254.169.254', reason: 'link-local' });
      expect(sockets.created).toBe(0);
    });

    it('refuses localhost, which DNS answers with a loopback address', async () => {
      const fake = await startFake();
      const onRefused = jest.fn();
      const error = await rejection(client({ allowPrivate: false, onRefused }).request({ url: `https://localhost:${fake.port}/`, method: 'GET' }));
      expect(error).toBeInstanceOf(EgressRefused);
      expect((error as EgressRefused).address).toMatch(/^(127\.0\.0\.1|::1)$/);
      expect(onRefused).toHaveBeenCalledTimes(1);
      expect(fake.connections).toBe(0);
    });

    it('refuses a name that resolves to the metadata address, before connecting', async () => {
      const onRefused = jest.fn();
      const lookup = scriptedLookup('169.254.169.254');
      const sockets = watchSockets();
      const error = await rejection(client({ allowPrivate: false, onRefused, lookup }).request({ url: 'https://metadata.vendor.example/latest/', method: 'GET' }));
      expect(error).toBeInstanceOf(EgressRefused);
      expect(error).toMatchObject({ host: 'metadata.vendor.example', address: '169.254.169.254' });
      expect(error.message).toBe('Egress to metadata.vendor.example refused: 169.254.169.254 is link-local (cloud metadata)');
      expect(onRefused).toHaveBeenCalledTimes(1);
      expect(lookup.calls).toBe(1);
      expect(sockets.connected).toBe(0);
    });

    it('refuses a name when any of its addresses is forbidden', async () => {
      const lookup: LookupFunction = (_hostname, _options, callback) =>
        callback(null, [
          { address: '93.184.215.14', family: 4 },
          { address: '10.0.0.5', family: 4 },
        ]);
      const sockets = watchSockets();
      const error = await rejection(client({ allowPrivate: false, lookup }).request({ url: 'https://split.vendor.example/', method: 'GET' }));
      expect(error).toMatchObject({ name: 'EgressRefused', address: '10.0.0.5', reason: 'private' });
      expect(sockets.connected).toBe(0);
    });

    it('judges the address it connects to on every lookup: DNS rebinding from public to loopback is refused', async () => {
      const fake = await startFake();
      const onRefused = jest.fn();
      // 192.0.2.1 (TEST-NET-1) stands for a public address: allowed, and never answers.
      const lookup = scriptedLookup('192.0.2.1', '127.0.0.1', '127.0.0.1');
      const outbound = client({ allowPrivate: false, onRefused, lookup });
      const url = `https://rebind.vendor.example:${fake.port}/`;

      const first = await rejection(outbound.request({ url, method: 'GET', timeoutMs: 500 }));
      expect(first).toBeInstanceOf(OutboundError);
      expect(onRefused).not.toHaveBeenCalled();

      const second = await rejection(outbound.request({ url, method: 'GET', timeoutMs: 500 }));
      expect(second).toBeInstanceOf(EgressRefused);
      expect(second).toMatchObject({ host: `rebind.vendor.example:${fake.port}`, address: '127.0.0.1' });
      expect(onRefused).toHaveBeenCalledTimes(1);

      // One lookup per request, and the answer judged is the answer used: the loopback fake never saw a connection.
      expect(lookup.calls).toBe(2);
      expect(fake.connections).toBe(0);
    });

    it('judges the peer actually connected to, whatever resolved it', async () => {
      const fake = await startFake();
      const onRefused = jest.fn();
      // A socket factory that goes somewhere else than asked (a proxy, a resolver bug): to loopback.
      const original = Agent.prototype.createConnection;
      jest.spyOn(Agent.prototype, 'createConnection').mockImplementation(function (this: Agent, options: any, callback: any) {
        return original.call(this, { ...options, host: '127.0.0.1' }, callback);
      });
      const error = await rejection(client({ allowPrivate: false, onRefused }).request({ url: `https://192.0.2.10:${fake.port}/`, method: 'GET' }));
      expect(error).toBeInstanceOf(EgressRefused);
      expect(error).toMatchObject({ host: `192.0.2.10:${fake.port}`, address: '127.0.0.1' });
      expect(onRefused).toHaveBeenCalledTimes(1);
      expect(fake.requests).toHaveLength(0);
    });

    it('still refuses when the audit callback throws', async () => {
      const outbound = client({
        allowPrivate: false,
        onRefused: () => {
          throw new Error('audit down');
        },
      });
      await expect(outbound.request({ url: 'https://127.0.0.1/', method: 'GET' })).rejects.toBeInstanceOf(EgressRefused);
    });
  });

  describe('redirects', () => {
    it('are answered, never followed', async () => {
      const fake = await startFake((req, res) => {
        res.statusCode = req.url === '/start' ? 302 : 200;
        res.setHeader('Location', `https://127.0.0.1:${fake.port}/elsewhere`);
        res.end();
      });
      const response = await client({ allowPrivate: true }).request({ url: `https://127.0.0.1:${fake.port}/start`, method: 'GET' });
      expect(response.status).toBe(302);
      expect(response.headers.location).toBe(`https://127.0.0.1:${fake.port}/elsewhere`);
      expect(fake.requests.map((request) => request.url)).toEqual(['/start']);
    });
  });

  describe('timeout', () => {
    it('bounds a request whose answer never comes', async () => {
      const fake = await startFake(() => undefined);
      const error = await rejection(client({ allowPrivate: true }).request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET', timeoutMs: 200 }));
      expect(error).toBeInstanceOf(OutboundError);
      expect(error).toMatchObject({ code: 'timeout' });
    });

    it('bounds the whole request, not each silence: a body that trickles forever times out', async () => {
      const timers: NodeJS.Timeout[] = [];
      const fake = await startFake((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        timers.push(setInterval(() => res.write('.'), 20));
      });
      try {
        const error = await rejection(client({ allowPrivate: true }).request({ url: `https://127.0.0.1:${fake.port}/`, method: 'GET', timeoutMs: 300 }));
        expect(error).toMatchObject({ name: 'OutboundError', code: 'timeout' });
      } finally {
        timers.forEach(clearInterval);
      }
    });

    it('defaults to 30 s', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
      try {
        const outbound = client({ allowPrivate: false, lookup: () => undefined });
        const pending = rejection(outbound.request({ url: 'https://hangs.vendor.example/', method: 'GET' }));
        let settled = false;
        void pending.then(() => (settled = true));
        await jest.advanceTimersByTimeAsync(29_999);
        // A whole turn of the loop: a rejection the timer caused has settled by now.
        await new Promise((resolve) => setImmediate(resolve));
        expect(settled).toBe(false);
        jest.advanceTimersByTime(1);
        expect(await pending).toMatchObject({ code: 'timeout' });
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('answer size', () => {
    it.each([
      ['declared in Content-Length', true],
      ['streamed in chunks', false],
    ])('refuses an answer beyond maxResponseBytes (%s) and drops its connection', async (_how, declared) => {
      const fake = await startFake((req, res) => {
        const size = req.url === '/big' ? 1001 : 1000;
        if (declared) res.setHeader('Content-Length', size);
        res.write('x'.repeat(500));
        res.end('x'.repeat(size - 500));
      });
      const outbound = client({ allowPrivate: true });
      const atLimit = await outbound.request({ url: `https://127.0.0.1:${fake.port}/exact`, method: 'GET', maxResponseBytes: 1000 });
      expect(atLimit.body).toHaveLength(1000);

      const error = await rejection(outbound.request({ url: `https://127.0.0.1:${fake.port}/big`, method: 'GET', maxResponseBytes: 1000 }));
      expect(error).toBeInstanceOf(OutboundError);
      expect(error).toMatchObject({ code: 'response_too_large' });

      // The connection with the unread rest was destroyed, not put back in the pool.
      await outbound.request({ url: `https://127.0.0.1:${fake.port}/exact`, method: 'GET', maxResponseBytes: 1000 });
      expect(fake.connections).toBe(2);
    });

    it.each([
      ['declared in Content-Length', true],
      ['streamed in chunks', false],
    ])('with truncateResponse, answers the status and the body cut at maxResponseBytes (%s), and drops its connection', async (_how, declared) => {
      const fake = await startFake((req, res) => {
        const size = req.url === '/big' ? 20_000 : 1000;
        if (declared) res.setHeader('Content-Length', size);
        res.statusCode = 200;
        res.write('a'.repeat(600));
        res.end('b'.repeat(size - 600));
      });
      const outbound = client({ allowPrivate: true });
      const request = { method: 'POST' as const, maxResponseBytes: 1000, truncateResponse: true };
      const atLimit = await outbound.request({ ...request, url: `https://127.0.0.1:${fake.port}/exact` });
      expect({ length: atLimit.body.length, truncated: atLimit.truncated }).toEqual({ length: 1000, truncated: undefined });

      const cut = await outbound.request({ ...request, url: `https://127.0.0.1:${fake.port}/big` });
      expect({ status: cut.status, truncated: cut.truncated, body: cut.body.toString() }).toEqual({ status: 200, truncated: true, body: 'a'.repeat(600) + 'b'.repeat(400) });

      // The connection with the unread rest was destroyed, not put back in the pool.
      await outbound.request({ ...request, url: `https://127.0.0.1:${fake.port}/exact` });
      expect(fake.connections).toBe(2);
    });

    it('defaults to 4 MiB', async () => {
      const fake = await startFake((req, res) => res.end(Buffer.alloc(req.url === '/big' ? 4 * 1024 * 1024 + 1 : 4 * 1024 * 1024)));
      const outbound = client({ allowPrivate: true });
      expect((await outbound.request({ url: `https://127.0.0.1:${fake.port}/exact`, method: 'GET' })).body).toHaveLength(4 * 1024 * 1024);
      await expect(outbound.request({ url: `https://127.0.0.1:${fake.port}/big`, method: 'GET' })).rejects.toMatchObject({ code: 'response_too_large' });
    });
  });

  describe('error messages', () => {
    // A short timeout only where the timeout is the case: on a busy machine a refused connection can take longer than 300 ms to be read.
    const secretRequest = (url: string, timeoutMs = 10_000) => ({
      url,
      method: 'POST' as const,
      headers: { authorization: 'token SECRET' },
      body: 'password=SECRET',
      timeoutMs,
      maxResponseBytes: 10,
    });
    const expectNoSecret = (error: Error, host: string) => {
      for (const text of [error.message, String(error), JSON.stringify(error), error.stack ?? '']) {
        expect(text).not.toMatch(/SECRET|secret-path/);
      }
      expect(error.message).toContain(host);
    };

    it('name the host, never the path, query, headers or body: network failure', async () => {
      const fake = await startFake();
      const port = fake.port;
      await fake.close();
      const error = await rejection(client({ allowPrivate: true }).request(secretRequest(`https://127.0.0.1:${port}/secret-path?token=SECRET`)));
      expect(error).toMatchObject({ name: 'OutboundError', code: 'network' });
      expectNoSecret(error, `127.0.0.1:${port}`);
    });

    it('... a name that does not resolve', async () => {
      const lookup: LookupFunction = (_hostname, _options, callback) => callback(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), '');
      const error = await rejection(client({ allowPrivate: false, lookup }).request(secretRequest('https://nowhere.vendor.example/secret-path?token=SECRET')));
      expect(error).toMatchObject({ name: 'OutboundError', code: 'network' });
      expect(error.message).toContain('ENOTFOUND');
      expectNoSecret(error, 'nowhere.vendor.example');
    });

    it('... timeout', async () => {
      const fake = await startFake(() => undefined);
      const error = await rejection(client({ allowPrivate: true }).request(secretRequest(`https://127.0.0.1:${fake.port}/secret-path?token=SECRET`, 300)));
      expect(error).toMatchObject({ code: 'timeout' });
      expectNoSecret(error, `127.0.0.1:${fake.port}`);
    });

    it('... answer too large', async () => {
      const fake = await startFake((_req, res) => res.end('x'.repeat(100)));
      const error = await rejection(client({ allowPrivate: true }).request(secretRequest(`https://127.0.0.1:${fake.port}/secret-path?token=SECRET`)));
      expect(error).toMatchObject({ code: 'response_too_large' });
      expectNoSecret(error, `127.0.0.1:${fake.port}`);
    });

    it('... refusal, by the address and by the scheme', async () => {
      const outbound = client({ allowPrivate: false });
      const byAddress = await rejection(outbound.request(secretRequest('https://127.0.0.1:8443/secret-path?token=SECRET')));
      expect(byAddress).toBeInstanceOf(EgressRefused);
      expectNoSecret(byAddress, '127.0.0.1:8443');
      const byScheme = await rejection(outbound.request(secretRequest('http://api.vendor.example/secret-path?token=SECRET')));
      expect(byScheme).toBeInstanceOf(EgressRefused);
      expectNoSecret(byScheme, 'api.vendor.example');
    });

    it('... credentials in the URL itself', async () => {
      const outbound = client({ allowPrivate: false });
      const error = await rejection(outbound.request(secretRequest('https://user:SECRET@127.0.0.1/secret-path')));
      expect(error).toBeInstanceOf(EgressRefused);
      expectNoSecret(error, '127.0.0.1');
    });
  });

  describe('trust store', () => {
    it('keeps NODE_EXTRA_CA_CERTS, with and without extra `ca`', async () => {
      const fake = await startFake();
      // Another certificate: a `ca` that does not cover the fake, so only NODE_EXTRA_CA_CERTS can.
      const other = await generate([{ name: 'commonName', value: 'other.test' }], { keyType: 'ec', algorithm: 'sha256' });
      const script = `
        const { OutboundClient } = require('./src/egress/outbound-http.ts');
        const url = 'https://localhost:${fake.port}/';
        const answer = (client) => client.request({ url, method: 'GET' }).then((r) => r.status, (e) => e.code || e.name).finally(() => client.close());
        (async () => {
          const plain = await answer(new OutboundClient({ policy: { allowPrivate: true } }));
          const withCa = await answer(new OutboundClient({ policy: { allowPrivate: true }, ca: [${JSON.stringify(other.cert)}] }));
          process.stdout.write(JSON.stringify({ plain, withCa }));
        })();
      `;
      const run = (env: NodeJS.ProcessEnv) =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['-r', '@swc-node/register', '-e', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
          let output = '';
          child.stdout.on('data', (chunk: Buffer) => (output += chunk));
          child.stderr.on('data', (chunk: Buffer) => (output += chunk));
          child.once('error', reject);
          child.once('exit', () => resolve(output.trim()));
        });
      const { NODE_EXTRA_CA_CERTS: _ignored, ...environment } = process.env;
      expect(JSON.parse(await run({ ...environment, NODE_EXTRA_CA_CERTS: certificate.caFile }))).toEqual({ plain: 200, withCa: 200 });
      // Without it the fake is not trusted: the line above proves something.
      expect(JSON.parse(await run(environment))).toEqual({ plain: 'network', withCa: 'network' });
    }, 30_000);
  });
});
