// Every request the service sends to an external system (vendor APIs, token endpoints, alert
// endpoints) goes through here: https only, the egress rule checked on the address actually
// connected to, no redirects followed, a timeout, a bounded answer. Pure: no Nest imports.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { forbiddenRange } from './address-policy';

/** What to send. Never logged whole: headers carry credentials. */
export interface OutboundRequest {
  /** An absolute `https:` URL; anything else is refused (EgressRefused). */
  url: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Whole request, connect to last byte; default 30 s (API.md). */
  timeoutMs?: number;
  /** The answer's body beyond this is not read: OutboundError('response_too_large'). Default 4 MiB. */
  maxResponseBytes?: number;
  /**
   * Past maxResponseBytes the answer still resolves, its body cut there (`truncated`), rather than
   * failing: for a caller that judges the status only (an alert endpoint took the alert on a 2xx,
   * however long its body), where the cap bounds what is read, not the outcome.
   */
  truncateResponse?: boolean;
}

export interface OutboundResponse {
  status: number;
  /** Lower-cased header names, as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body is the first maxResponseBytes of a longer one (truncateResponse only). */
  truncated?: true;
}

export interface EgressPolicy {
  /** EGRESS_ALLOW_PRIVATE: loopback and private destinations allowed (tests, on-premise). */
  allowPrivate: boolean;
}

/** The rule refused the destination: not https, or an address the policy forbids. */
export class EgressRefused extends Error {
  override name = 'EgressRefused';
  readonly rule = 'egress_destination_not_allowed';
  constructor(
    message: string,
    /** The host asked for and the address it resolved to (no path, no query: they may carry secrets). */
    readonly host: string,
    /** Why, in words a tenant may read (`loopback`, `private`, `not https`): never the address, which would tell it how internal names resolve. */
    readonly reason: string,
    /** For the operator's log only. */
    readonly address?: string,
  ) {
    super(message);
  }
}

export type OutboundErrorCode = 'timeout' | 'network' | 'response_too_large';

/** The request failed before a whole answer came back. Its message names no URL path, query or header. */
export class OutboundError extends Error {
  override name = 'OutboundError';
  constructor(
    readonly code: OutboundErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface OutboundClientOptions {
  policy: EgressPolicy;
  /** Called once for every refused destination (the caller audits it). */
  onRefused?: (refusal: EgressRefused) => void;
  /**
   * PEM certificates trusted on top of the default store (in-process specs with a local HTTPS
   * fake). Without it the default store is used as is, NODE_EXTRA_CA_CERTS included.
   */
  ca?: string[];
  /** Name resolution (specs inject answers); default dns.lookup. Its answers are checked like any other. */
  lookup?: LookupFunction;
  /** How long an idle kept-alive connection is kept; default 4 s, and a second less than a server's announced `Keep-Alive: timeout`. */
  idleSocketMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/**
 * Below the 5 s after which Node's and Apache's servers close an idle connection. A request written
 * into a connection the server is closing is reset; a delivery would lose an attempt to it.
 */
export const DEFAULT_IDLE_SOCKET_MS = 4_000;

/** What a connector needs of the client. */
export type Outbound = Pick<OutboundClient, 'request'>;

/** The client, calling `onRequest` for every request it sent, answered or not; not for one the egress rule refused (Xledger's quota is counted in requests). */
export function countingOutbound(client: Outbound, onRequest: () => void): Outbound {
  return {
    request: (request) =>
      client.request(request).then(
        (response) => {
          onRequest();
          return response;
        },
        (error: unknown) => {
          if (!(error instanceof EgressRefused)) onRequest();
          throw error;
        },
      ),
  };
}

/** Sends one request; resolves with any HTTP status (a 4xx/5xx is an answer, not an error). */
export class OutboundClient {
  // Keep-alive: a delivery sends thousands of rows to one host; each new socket still goes
  // through the guarded lookup and the connect check, a reused one was checked when it opened.
  // An idle one is closed before the server would close it (the agent's `timeout` applies to idle
  // sockets, and node lowers it to a server's Keep-Alive hint less a second; a request's own
  // timer bounds a busy one).
  private readonly agent: Agent;

  constructor(readonly options: OutboundClientOptions) {
    this.agent = new Agent({
      keepAlive: true,
      scheduling: 'lifo',
      timeout: options.idleSocketMs ?? DEFAULT_IDLE_SOCKET_MS,
      ca: options.ca && trustedCertificates(options.ca),
    });
  }

  request(request: OutboundRequest): Promise<OutboundResponse> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return this.refuse(new EgressRefused('Egress refused: the destination is not an absolute URL', '', 'not an absolute URL'));
    }
    // URL gives IPv6 literals in brackets; addresses and DNS want them bare.
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const host = url.host;
    if (url.protocol !== 'https:') return this.refuse(new EgressRefused(`Egress to ${host} refused: only https is allowed`, host, 'not https'));
    if (isIP(hostname)) {
      // An IP literal skips the lookup: judged here, before any socket exists.
      const refusal = this.check(host, hostname);
      if (refusal) return this.refuse(refusal);
    }
    return this.send(request, url, hostname, host);
  }

  /** Closes the kept-alive connections (shutdown, specs). */
  close(): void {
    this.agent.destroy();
  }

  private send(request: OutboundRequest, url: URL, hostname: string, host: string): Promise<OutboundResponse> {
    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxResponseBytes = request.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const guarded = !this.options.policy.allowPrivate;
    return new Promise<OutboundResponse>((resolve, reject) => {
      let settled = false;
      // The refusal found by the lookup or the connect check: the socket error it causes is reported as it.
      let refusal: EgressRefused | undefined;
      const finish = (error: Error | undefined, response?: OutboundResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          req.destroy();
          if (error instanceof EgressRefused) this.notifyRefused(error);
          reject(error);
        } else resolve(response!);
      };
      const fail = (error: Error) => finish(refusal ?? error);
      const timer = setTimeout(() => fail(new OutboundError('timeout', `No whole answer from ${host} within ${timeoutMs} ms`)), timeoutMs);

      const lookup = this.options.lookup ?? dnsLookup;
      const guardedLookup: LookupFunction = (name, lookupOptions, callback) => {
        // Always ask for every address: all of them are judged, whichever net then tries.
        lookup(name, { ...lookupOptions, all: true }, (error, answer, family) => {
          if (error) return callback(error, lookupOptions.all ? [] : '');
          const addresses: LookupAddress[] = typeof answer === 'string' ? [{ address: answer, family: family ?? isIP(answer) }] : answer;
          for (const { address } of addresses) {
            refusal ??= this.check(host, address);
            if (refusal) return callback(refusal, lookupOptions.all ? [] : '');
          }
          if (addresses.length === 0) return callback(Object.assign(new Error(`${name} has no address`), { code: 'ENOTFOUND' }), lookupOptions.all ? [] : '');
          if (lookupOptions.all) callback(null, addresses);
          else callback(null, addresses[0].address, addresses[0].family);
        });
      };

      let req: ReturnType<typeof httpsRequest>;
      try {
        req = httpsRequest({
          agent: this.agent,
          hostname,
          port: url.port || 443,
          path: `${url.pathname}${url.search}`,
          method: request.method,
          headers: request.headers,
          auth: url.username || url.password ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
          lookup: guarded ? guardedLookup : this.options.lookup,
        });
      } catch (error) {
        // Invalid header names or values: node's message names the header, never its value.
        clearTimeout(timer);
        return reject(new OutboundError('network', `Request to ${host} not sent: ${(error as NodeJS.ErrnoException).code ?? 'invalid request'}`));
      }

      if (guarded) {
        // Belt and braces: whatever resolved the name, the peer actually connected to is judged too
        // (before the TLS handshake ends, so no byte of the request has left).
        req.on('socket', (socket: Socket) => {
          const checkPeer = () => {
            const peer = socket.remoteAddress;
            // A socket that failed already (its lookup, say) reports its own error; a live one whose peer is unknown is not trusted.
            if (peer === undefined && socket.destroyed) return;
            const peerRefusal =
              peer === undefined ? new EgressRefused(`Egress to ${host} refused: the address connected to is unknown`, host, 'address unknown') : this.check(host, peer);
            if (peerRefusal) {
              refusal ??= peerRefusal;
              socket.destroy(peerRefusal);
            }
          };
          if (socket.connecting) socket.once('connect', checkPeer);
          else checkPeer();
        });
      }

      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof EgressRefused || error instanceof OutboundError) return fail(error);
        fail(new OutboundError('network', `Request to ${host} failed: ${error.code ?? 'network error'}`));
      });

      req.on('response', (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length']);
        const chunks: Buffer[] = [];
        let received = 0;
        const tooLarge = () => {
          if (request.truncateResponse) {
            finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, maxResponseBytes), truncated: true });
          } else fail(new OutboundError('response_too_large', `The answer from ${host} is larger than ${maxResponseBytes} bytes`));
          // Not drained: the socket goes with the request rather than back to the pool.
          res.destroy();
          res.socket?.destroy();
        };
        // Truncating, the body is read up to the cap first, whatever the length declared.
        if (declared > maxResponseBytes && !request.truncateResponse) return tooLarge();
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = maxResponseBytes - received;
          received += chunk.length;
          if (received > maxResponseBytes) {
            chunks.push(chunk.subarray(0, room));
            return tooLarge();
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (received > maxResponseBytes) return;
          finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, received) });
        });
        res.on('error', (error: NodeJS.ErrnoException) => fail(new OutboundError('network', `The answer from ${host} broke off: ${error.code ?? 'network error'}`)));
        res.on('close', () => {
          if (!res.complete) fail(new OutboundError('network', `The answer from ${host} broke off`));
        });
      });

      req.end(request.body);
    });
  }

  private check(host: string, address: string): EgressRefused | undefined {
    if (this.options.policy.allowPrivate) return undefined;
    const range = forbiddenRange(address);
    if (range === undefined) return undefined;
    // The range's name without what it adds in parentheses (an embedded IPv4 address among it).
    return new EgressRefused(`Egress to ${host} refused: ${address} is ${range}`, host, range.split(' (')[0], address);
  }

  private refuse(refusal: EgressRefused): Promise<never> {
    this.notifyRefused(refusal);
    return Promise.reject(refusal);
  }

  private notifyRefused(refusal: EgressRefused): void {
    try {
      this.options.onRefused?.(refusal);
    } catch {
      // An audit sink that throws must not turn a refusal into a crash; the caller still gets the refusal.
    }
  }
}

/**
 * The default store plus `extra`: giving node a `ca` replaces its default store, so the bundled
 * roots and NODE_EXTRA_CA_CERTS are put back explicitly.
 */
function trustedCertificates(extra: string[]): string[] {
  const fromEnvironment = process.env.NODE_EXTRA_CA_CERTS;
  let environment: string[] = [];
  if (fromEnvironment) {
    try {
      environment = [readFileSync(fromEnvironment, 'utf8')];
    } catch {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so do we, by ignoring it.
    }
  }
  return [...rootCertificates, ...environment, ...extra];
}
