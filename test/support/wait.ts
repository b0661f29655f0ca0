import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads `read()` every `intervalMs` until `done` says so or `timeoutMs` has passed, and answers the
 * last value read: the caller's expectation on it says what was not reached (the service works
 * asynchronously; a fixed sleep is either too short on a busy machine or wasted on an idle one).
 */
export async function waitFor<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(intervalMs);
  }
}
