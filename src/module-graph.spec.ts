import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The layering the code keeps, as a spec: the foundations import no feature, and the Nest
// modules' imports run one way.
const SRC = __dirname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'migrations' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** The top-level folders of src/ a file imports from (relative imports only). */
function importedFolders(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/from '(\.[^']+)'/g)].map((m) => m[1]);
  return specifiers.map((specifier) => relative(SRC, resolve(dirname(file), specifier)).split('/')[0]).filter((folder) => folder && !folder.startsWith('..'));
}

describe('module graph', () => {
  it.each(['config', 'common'])('%s/ imports nothing but config/ and common/', (folder) => {
    const offending = sourceFiles(join(SRC, folder)).flatMap((file) =>
      importedFolders(file)
        .filter((target) => !['config', 'common'].includes(target))
        .map((target) => `${relative(SRC, file)} → ${target}/`),
    );
    expect(offending).toEqual([]);
  });

  it('has no cycle between the Nest modules, and no forwardRef', () => {
    const modules = sourceFiles(SRC).filter((file) => file.endsWith('.module.ts'));
    const edges = new Map(
      modules.map((file) => {
        const text = readFileSync(file, 'utf8');
        const targets = [...text.matchAll(/from '(\.[^']+\.module)'/g)].map((m) => resolve(dirname(file), m[1]) + '.ts');
        return [file, targets.filter((target) => modules.includes(target))];
      }),
    );
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (path.includes(node)) return void cycles.push([...path.slice(path.indexOf(node)), node].map((f) => relative(SRC, f)).join(' → '));
      for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
    };
    for (const node of edges.keys()) visit(node, []);
    expect(cycles).toEqual([]);
    expect(sourceFiles(SRC).filter((file) => readFileSync(file, 'utf8').includes('forwardRef('))).toEqual([]);
  });
});
