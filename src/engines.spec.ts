import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// semver is npm's own range logic (no types of its own here): what `npm ci` checks engines with.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const semver = require('semver') as {
  satisfies(version: string, range: string, options?: { includePrerelease?: boolean }): boolean;
  minVersion(range: string): { version: string } | null;
};

const ROOT = join(__dirname, '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

/**
 * The Node versions we say we run on (package.json `engines`): the lowest of each range, and the
 * Node running this spec when it is one of them.
 */
function supportedNodes(): string[] {
  const lowest = manifest.engines.node.split('||').map((range) => semver.minVersion(range.trim())!.version);
  const current = process.versions.node;
  return semver.satisfies(current, manifest.engines.node) ? [...new Set([...lowest, current])] : lowest;
}

type LockedPackages = typeof lock.packages;

/** What `npm ci` would warn about: each locked package whose `engines.node` refuses one of `nodes`. */
function engineRefusals(packages: LockedPackages, nodes: string[]): string[] {
  const refusals: string[] = [];
  for (const [path, pkg] of Object.entries(packages)) {
    const wanted = !path || Array.isArray(pkg.engines) ? undefined : pkg.engines?.node;
    if (!wanted) continue;
    for (const node of nodes) {
      if (!semver.satisfies(node, wanted, { includePrerelease: true })) refusals.push(`${path.replace(/^.*node_modules\//, '')}@${pkg.version} wants node ${wanted}, not ${node}`);
    }
  }
  return refusals;
}

// `npm ci` warns EBADENGINE for every installed package whose `engines.node` leaves out the
// running Node: on a Node our `engines` accepts, none may.
describe('engines', () => {
  it('every locked package accepts every Node version package.json says is supported', () => {
    const nodes = supportedNodes();
    expect(nodes).toEqual(expect.arrayContaining(['20.19.0']));
    expect(engineRefusals(lock.packages, nodes)).toEqual([]);
  });

  it('finds a package that refuses a supported Node, as npm would', () => {
    const packages: LockedPackages = {
      '': { version: '0.1.0', engines: { node: manifest.engines.node } },
      'node_modules/nestjs-pino': { version: '5.2.1', engines: { node: '>=22.12.0' } },
      'node_modules/pino': { version: '10.4.0', engines: { node: '>=20' } },
    };
    expect(engineRefusals(packages, ['20.19.0', '22.13.0'])).toEqual(['nestjs-pino@5.2.1 wants node >=22.12.0, not 20.19.0']);
  });
});
