import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  /**
   * A network partition from now on: nothing passes either way and nothing is closed or reset
   * (no FIN, no RST); new connections are accepted and hear nothing. What a peer waits for never comes.
   */
  blackhole(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `host:port` that a spec can cut silently (a database that went unreachable). */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let silent = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A reset while cut is not the partition's to tell: nothing is forwarded.
    socket.on('error', () => socket.destroy());
  };
  // Half-open allowed: a FIN from one side is passed on only while connected, never answered by the proxy itself.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    if (silent) return;
    const upstream = connect({ host, port, allowHalfOpen: true });
    track(upstream);
    const pipe = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => void (silent || to.write(chunk)));
      from.on('end', () => void (silent || to.end()));
      from.on('close', () => void (silent || to.destroy()));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const proxyPort = (server.address() as { port: number }).port;
  return {
    through(url: string) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(proxyPort);
      return parsed.toString();
    },
    blackhole() {
      silent = true;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
