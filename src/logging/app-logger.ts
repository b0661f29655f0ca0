import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Level, type Logger, type LoggerOptions } from 'pino';

/**
 * Nest's logger as pino JSON lines: what nestjs-pino's Logger did, in the one shape the service
 * used (a root logger, no per-request context; see useAccessLog), without its Node ≥ 22.12
 * engines. `Logger.log(message, context)` becomes `{"level":30,"context":…,"msg":…}`; an Error
 * is logged as `err` (message, stack).
 */
export class AppLogger implements LoggerService {
  constructor(readonly root: Logger) {}

  static create(options: LoggerOptions, stream?: DestinationStream): AppLogger {
    // ISO 8601 `time`: read by people and log shippers alike, unlike epoch milliseconds.
    const settings: LoggerOptions = { timestamp: pino.stdTimeFunctions.isoTime, ...options };
    return new AppLogger(stream ? pino(settings, stream) : pino(settings));
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  // Nest passes the context last: (message, context) or, for errors, (message, stack, context).
  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.root.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0) fields.context = rest.pop();
    if (message instanceof Error) {
      this.root[level]({ ...fields, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      // logger.error({ err, req }, 'unexpected error'): the fields, then the message.
      const [msg, ...args] = rest;
      this.root[level]({ ...fields, ...(message as Record<string, unknown>) }, msg === undefined ? undefined : String(msg), ...args);
    } else if (level === 'error' && rest.length === 1 && typeof rest[0] === 'string' && /\n\s*at /.test(rest[0])) {
      // Nest's exception handlers call error(message, stack, context).
      const err = new Error(String(message));
      err.stack = rest[0];
      this.root[level]({ ...fields, err }, String(message));
    } else {
      this.root[level](fields, String(message), ...rest);
    }
  }
}
