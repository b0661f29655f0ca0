// The cost of Nest's HTTP adapter alone: one route with a global guard and a param pipe, no
// database, on `fastify` (what the service runs on), `express` (what it ran on before), or as
// plain node:http (`raw`).
// Started by bench/adapter.bench.ts in a process of its own; prints `listening <port>`.
import 'reflect-metadata';
import { createServer } from 'node:http';
import { Controller, Get, Injectable, Module, Param, ParseUUIDPipe, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';

const BODY = (id: string) => ({ id, integration_type: 'xledger', display_name: 'Bench Xledger', enabled: true, base_url: 'https://x.example', has_api_key: true, revision: 1 });

@Injectable()
class HeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return typeof context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization === 'string';
  }
}

@Controller('v1/things')
class ThingsController {
  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return BODY(id);
  }
}

@Module({ controllers: [ThingsController], providers: [{ provide: APP_GUARD, useClass: HeaderGuard }] })
class AdapterBenchModule {}

async function main(kind: string): Promise<number> {
  if (kind === 'raw') {
    const route = /^\/v1\/things\/([0-9a-f-]{36})$/;
    const server = createServer((req, res) => {
      const match = route.exec(req.url ?? '');
      const text = JSON.stringify(match && req.headers.authorization ? BODY(match[1]) : { code: 'not_found' });
      res.writeHead(match ? 200 : 404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }
  const adapter = kind === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app = await NestFactory.create(AdapterBenchModule, adapter, { logger: false });
  await app.listen(0, '127.0.0.1');
  return (app.getHttpServer().address() as { port: number }).port;
}

main(process.argv[2] ?? 'express').then(
  (port) => process.stdout.write(`listening ${port}\n`),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
