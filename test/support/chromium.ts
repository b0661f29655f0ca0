import { existsSync } from 'node:fs';

/** Debian's Chromium, where CI or a developer installed it. */
const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/**
 * The browser the Swagger UI spec drives: CHROMIUM_PATH if set, Debian's Chromium if installed,
 * else the Chromium that ships inside the npm package @sparticuz/chromium (unpacked to /tmp on
 * first use), with the flags it needs. A spec that finds none fails: it never skips.
 */
export async function chromiumLaunch(): Promise<{ executablePath: string; args: string[] }> {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist`);
    return { executablePath: configured, args: [] };
  }
  if (existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, args: [] };
  const { default: Chromium } = await import('@sparticuz/chromium');
  // Its args include --single-process and friends for serverless hosts; playwright sets headless itself.
  return { executablePath: await Chromium.executablePath(), args: Chromium.args.filter((flag) => !flag.startsWith('--headless')) };
}
