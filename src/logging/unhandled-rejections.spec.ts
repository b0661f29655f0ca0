import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** A process that lets a rejection go unhandled, with the backstop installed or not: its exit code and output. */
function run(installed: boolean) {
  const script = `
    const { logUnhandledRejections } = require('./src/logging/unhandled-rejections');
    if (${installed}) logUnhandledRejections({ error: (message, context) => process.stdout.write(JSON.stringify({ context, ...message }) + '\\n') });
    Promise.reject(new Error('lost settle'));
    setTimeout(() => process.stdout.write('still running\\n'), 100);
  `;
  return spawnSync(process.execPath, ['-r', '@swc-node/register', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
}

describe('logUnhandledRejections', () => {
  it('logs a rejection nobody handled (name and message) and the process goes on', () => {
    const out = run(true);
    expect(out.status).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(JSON.parse(lines[0])).toEqual({ context: 'Process', event: 'unhandled_rejection', err: { name: 'Error', message: 'lost settle' } });
    expect(lines[1]).toBe('still running');
  });

  it('without it, Node ends the process (what the backstop is for)', () => {
    const out = run(false);
    expect(out.status).toBe(1);
    expect(out.stdout).not.toContain('still running');
  });
});
