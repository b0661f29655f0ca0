// Preloaded into a service the bench starts with --expose-gc: SIGUSR2 collects its garbage, so the
// RSS read after a round is what the service keeps, not what V8 has not collected yet.
process.on('SIGUSR2', () => globalThis.gc?.());
