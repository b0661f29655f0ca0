// The standalone service's backstop for a promise nobody awaits. Pure: no Nest imports.

/**
 * Logs a rejection nobody handled instead of ending the process: pg-boss settles a finished job
 * (complete, fail) without awaiting it, so the database away for a moment would otherwise take
 * the instance, and every delivery under way on it, down. The error's name and message only.
 */
export function logUnhandledRejections(logger: { error(message: unknown, context?: string): void }): void {
  process.on('unhandledRejection', (reason: unknown) => {
    const err = reason instanceof Error ? { name: reason.name, message: reason.message } : { message: String(reason) };
    logger.error({ event: 'unhandled_rejection', err }, 'Process');
  });
}
