import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// semver is npm's own range logic (no types of its own here).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const semver = require('semver') as { satisfies(version: string, range: string): boolean };

const ROOT = join(__dirname, '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
  main: string;
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };

/**
 * What a host application (docs/module.md) and the module must share one copy of: a second
 * @nestjs/core cannot resolve the first one's providers (Reflector, ModuleRef), and TypeORM loads
 * the host's pg.
 */
const SHARED_WITH_HOST = ['@nestjs/common', '@nestjs/core', '@nestjs/typeorm', 'typeorm', 'pg', 'reflect-metadata', 'rxjs'];

describe('package.json, as a host application installs it', () => {
  it.each(SHARED_WITH_HOST)('%s is a peer dependency with a range the locked (tested) version is in, never a dependency of its own', (name) => {
    expect(manifest.dependencies[name]).toBeUndefined();
    expect(manifest.peerDependencies[name]).toMatch(/^\^\d+\.\d+\.\d+$/);
    expect(semver.satisfies(lock.packages[`node_modules/${name}`].version, manifest.peerDependencies[name])).toBe(true);
  });

  it("starts the service as npm's child itself (exec): npm passes SIGTERM to the script's shell, which would leave the service running", () => {
    expect(manifest.scripts['start']).toBe('exec node dist/src/main.js');
    expect(manifest.scripts['start:prod']).toBe('exec node dist/src/main.js');
  });

  it.each(['migration:run', 'migration:revert', 'migration:show'])('%s builds only where the sources are: the production image has dist and no compiler', (script) => {
    expect(manifest.scripts[script]).toMatch(/^\(test ! -f tsconfig\.build\.json \|\| npm run build\) && typeorm migration:\w+ -d dist\/ormconfig\.js$/);
  });

  it('packs the compiled module, built on the way (not the sources, specs or benchmarks)', () => {
    expect(manifest.scripts['prepack']).toBe('npm run build');
    expect(manifest.main.startsWith('dist/')).toBe(true);
    expect(manifest.files).toEqual(expect.arrayContaining(['dist', 'bin']));
    expect(manifest.files.filter((entry) => /^(src|test|bench)\b/.test(entry))).toEqual([]);
  });
});
