import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferedDestination } from './buffered-destination';

describe('the buffered log destination (sonic-boom in buffer mode)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'meander-log-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('holds small lines back and writes them byte-exact, multi-byte text included, on flush', async () => {
    const file = join(dir, 'out.log');
    const out = bufferedDestination(file);
    await out.ready; // the file opens asynchronously
    const lines = Array.from({ length: 20 }, (_, i) => `{"msg":"line ${i} Ærø ✓"}\n`);
    for (const line of lines) out.write(line);
    expect(readFileSync(file, 'utf8')).toBe('');
    out.flushSync();
    expect(readFileSync(file, 'utf8')).toBe(lines.join(''));
  });

  it('writes without a flush once the buffer fills', async () => {
    const file = join(dir, 'full.log');
    // No periodic flush within the test: only a full buffer writes.
    const out = bufferedDestination(file, 60_000);
    await out.ready;
    const line = `${JSON.stringify({ msg: 'x'.repeat(1000) })}\n`;
    for (let i = 0; i < 40; i++) out.write(line);
    // The write the full buffer started, without a flush (asynchronous: looked for, up to 5 s).
    const written = () => readFileSync(file, 'utf8').length;
    for (const deadline = Date.now() + 5_000; written() < 16 * 1024 && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(written()).toBeGreaterThanOrEqual(16 * 1024);
    // The rest may be on its way in a second asynchronous write, which flushSync would not wait for.
    await new Promise<void>((resolve, reject) => out.flush((error) => (error ? reject(error) : resolve())));
    expect(readFileSync(file, 'utf8')).toBe(line.repeat(40));
  });
});
