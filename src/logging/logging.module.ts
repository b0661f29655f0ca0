import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppConfig } from '../config/app-config';
import { redactDeep, safeUrl } from './redact';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

/** The caller's X-Request-Id when it is a plausible id (it ends up in logs), else a new one. */
export function requestIdFor(req: Pick<IncomingMessage, 'headers'>): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}

/**
 * Structured JSON logs (pino) with a request id on every line of a request, and redaction of
 * authorization headers, secrets and `*_encrypted` values.
 */
@Module({})
export class LoggingModule {
  static forRoot(options: { stream?: DestinationStream } = {}): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => ({
            pinoHttp: {
              level: config.logLevel,
              stream: options.stream,
              // Fastify gives every request its id first (requestIdFor); this is for any other server.
              genReqId: (req: IncomingMessage, res: ServerResponse) => {
                const id = requestIdFor(req);
                res.setHeader(REQUEST_ID_HEADER, id);
                return id;
              },
              customProps: (req: IncomingMessage) => {
                const principal = (req as { principal?: { sub: string; role: string; orgId: string | null } }).principal;
                return principal ? { principal: { sub: principal.sub, role: principal.role, org_id: principal.orgId } } : {};
              },
              // Only what helps diagnose: never headers (tokens, signatures) nor bodies.
              serializers: {
                req: (req: { id: string; method: string; url: string; raw?: IncomingMessage }) => ({
                  id: req.id,
                  method: req.method,
                  url: safeUrl(req.url),
                  user_agent: req.raw?.headers['user-agent'],
                }),
                res: (res: { statusCode: number }) => ({ status: res.statusCode }),
              },
              redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '[redacted]' },
              formatters: { log: (object: Record<string, unknown>) => redactDeep(object) as Record<string, unknown> },
              quietReqLogger: false,
            },
          }),
        }),
      ],
    };
  }
}
