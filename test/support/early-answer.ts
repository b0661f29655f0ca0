import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestApp } from './test-app';

export interface EarlyAnswer {
  status: number;
  contentType: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: { code?: string };
}

/**
 * Announces a JSON body of `announced` bytes, sends 1 KiB of it and waits: an answer that comes
 * while the rest is unsent was given without reading the body. `null` if none came in `waitMs`.
 */
export function answerBeforeBody(t: TestApp, method: string, path: string, announced: number, headers: OutgoingHttpHeaders = {}, waitMs = 10_000): Promise<EarlyAnswer | null> {
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1024, 'a');
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method,
      path,
      headers: { 'content-type': 'application/json', ...headers, 'content-length': String(announced) },
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(null);
    }, waitMs);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], headers: res.headers, body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') });
        req.destroy();
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
    req.write(chunk);
  });
}
