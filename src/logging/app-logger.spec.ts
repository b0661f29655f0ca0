import { Writable } from 'node:stream';
import { AppLogger } from './app-logger';

function capture(): { logger: AppLogger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk.toString()), done()) });
  const logger = AppLogger.create({ level: 'info' }, { write: (line: string) => stream.write(line) });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('AppLogger (Nest logger over pino)', () => {
  it('writes JSON lines with an ISO 8601 time and the Nest context', () => {
    const { logger, lines } = capture();
    logger.log('listening', 'Bootstrap');
    logger.warn({ event: 'x', n: 1 }, 'Audit');
    logger.error({ err: { name: 'QueryFailedError' } }, 'unexpected error', 'ProblemFilter');
    logger.debug('hidden', 'Bootstrap');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 30, context: 'Bootstrap', msg: 'listening', time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/) }),
      expect.objectContaining({ level: 40, context: 'Audit', event: 'x', n: 1 }),
      expect.objectContaining({ level: 50, context: 'ProblemFilter', msg: 'unexpected error', err: { name: 'QueryFailedError' } }),
    ]);
  });

  it("logs errors as `err`: an Error, and Nest's (message, stack, context) calls", () => {
    const { logger, lines } = capture();
    logger.error(new Error('boom'), 'Db');
    logger.error('handler failed', 'Error: handler failed\n    at somewhere (file.ts:1:1)', 'ExceptionsHandler');
    const [first, second] = lines();
    expect(first).toMatchObject({ level: 50, context: 'Db', msg: 'boom', err: { message: 'boom' } });
    expect(second).toMatchObject({
      level: 50,
      context: 'ExceptionsHandler',
      msg: 'handler failed',
      err: { message: 'handler failed', stack: expect.stringContaining('at somewhere') },
    });
  });
});
