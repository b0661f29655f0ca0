import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';

/** Debian's Chromium, where CI or a developer installed it. */
const SYSTEM_CHROMIUM = '/usr/bin/chromium';
/**
 * The npm package that ships a Chromium binary. Not a devDependency: no release of it both runs
 * here and accepts Node 20 (143.0.4, the last for Node 20, crashes on this kind of machine; 153
 * wants Node ≥ 22.17), so listing it would make `npm ci` warn EBADENGINE on a supported Node.
 * Installed on first use instead, beside node_modules (npm ci starts it afresh).
 */
const BUNDLED_CHROMIUM = '@sparticuz/chromium@153.0.0';
const BUNDLED_DIR = join(__dirname, '..', '..', 'node_modules', '.cache', 'meander-test-chromium');

interface BundledChromium {
  executablePath(): Promise<string>;
  args: string[];
}

/**
 * The browser the Swagger UI spec drives: CHROMIUM_PATH if set, Debian's Chromium if installed,
 * else the Chromium inside the npm package @sparticuz/chromium (installed on first use, its binary
 * unpacked to /tmp), with the flags it needs. A spec that finds none fails: it never skips.
 */
export async function chromiumLaunch(): Promise<{ executablePath: string; args: string[] }> {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist`);
    return { executablePath: configured, args: [] };
  }
  if (existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, args: [] };
  const Chromium = await bundledChromium();
  // Its args include --single-process and friends for serverless hosts; playwright sets headless itself.
  return { executablePath: await Chromium.executablePath(), args: Chromium.args.filter((flag) => !flag.startsWith('--headless')) };
}

async function bundledChromium(): Promise<BundledChromium> {
  const packageDir = join(BUNDLED_DIR, 'node_modules', '@sparticuz', 'chromium');
  const version = BUNDLED_CHROMIUM.split('@')[2];
  const manifest = () => JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string; exports: { '.': { default: string } } };
  if (!existsSync(join(packageDir, 'package.json')) || manifest().version !== version) {
    // --loglevel=error: its engines range leaves out Node 20, which runs its binary all the same.
    execFileSync('npm', ['install', '--prefix', BUNDLED_DIR, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', BUNDLED_CHROMIUM], {
      stdio: 'inherit',
    });
  }
  unpackSwiftShader(packageDir);
  // By file: a package outside the project's dependencies is not found by name.
  const module = (await import(join(packageDir, manifest().exports['.'].default))) as { default: BundledChromium };
  return module.default;
}

/**
 * Its software GPU (SwiftShader), unpacked whole before the package looks: the package unpacks it
 * as a stream and takes any one file present for all of them, and a run cut short (seen here)
 * leaves a Chromium that aborts at start-up for want of libvk_swiftshader.so.
 */
function unpackSwiftShader(packageDir: string): void {
  const files = ['libEGL.so', 'libGLESv2.so', 'libvk_swiftshader.so', 'libvulkan.so.1', 'vk_swiftshader_icd.json'];
  if (files.every((file) => existsSync(join(tmpdir(), file)))) return;
  const tarball = brotliDecompressSync(readFileSync(join(packageDir, 'bin', 'swiftshader.tar.br')));
  execFileSync('tar', ['-x', '-C', tmpdir(), '-f', '-'], { input: tarball });
}
