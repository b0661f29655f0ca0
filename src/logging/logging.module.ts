import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { DynamicModule, Module } from '@nestjs/common';
import type { DestinationStream, LoggerOptions } from 'pino';
import { AppConfig } from '../config/app-config';
import { AppLogger } from './app-logger';
import { redactDeep, safeUrl } from './redact';
import type { RequestLogFields } from './request-log';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

/** The caller's X-Request-Id when it is a plausible id (it ends up in logs), else a new one. */
export function requestIdFor(req: Pick<IncomingMessage, 'headers'>): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
}

export { bufferedStdout } from './buffered-destination';

/**
 * Structured JSON logs (pino) with the request (`req`: id, method, path) on the lines logged for
 * it (requestLogFields), and redaction of authorization headers, secrets and `*_encrypted` values.
 * AppLogger is Nest's logger (app.useLogger) and holds the root pino logger (the access log).
 */
@Module({})
export class LoggingModule {
  static forRoot(options: { stream?: DestinationStream } = {}): DynamicModule {
    return {
      module: LoggingModule,
      global: true,
      providers: [{ provide: AppLogger, inject: [AppConfig], useFactory: (config: AppConfig) => AppLogger.create(loggerOptions(config), options.stream) }],
      exports: [AppLogger],
    };
  }
}

export function loggerOptions(config: Pick<AppConfig, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    // A request is logged as the access log's summary of it (method, path, query parameter
    // names, user agent), never with its headers (tokens, signatures) nor its body; a response
    // as its status.
    serializers: {
      // What the lines carry as `req` (requestLogFields), once more through safeUrl: a line that
      // names a request some other way still shows no query value.
      req: (req: RequestLogFields) => ({ id: req.id, method: req.method, url: safeUrl(req.url), user_agent: req.user_agent }),
      res: (res: { statusCode: number }) => ({ status: res.statusCode }),
    },
    // Secret-named keys (authorization, cookie, *_secret…) at any depth of what is logged, and
    // secret shapes in its text (before the serializers above run).
    formatters: { log: (object: Record<string, unknown>) => redactDeep(object) as Record<string, unknown> },
  };
}
