/**
 * Finding the Chromium that browser tests drive (Debian's, through playwright-core:
 * downloaded browser builds cannot install here). One lookup shared by the
 * pretest step (scripts/pretest.ts) and the tests (test/browser/chromium.ts):
 * CHROMIUM_PATH (or the older FEDISTILL_CHROMIUM) when set, else /usr/bin/chromium,
 * else `chromium` or `chromium-browser` on PATH.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
const NAMES_ON_PATH = ['chromium', 'chromium-browser'];

export type ChromiumLookup =
  { found: true; path: string; from: string } | { found: false; reason: string };

export interface LookupEnvironment {
  env: Record<string, string | undefined>;
  /** Whether `path` is an executable file. */
  isExecutable: (path: string) => boolean;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findChromium(
  lookup: LookupEnvironment = { env: process.env, isExecutable },
): ChromiumLookup {
  const { env } = lookup;
  for (const variable of ['CHROMIUM_PATH', 'FEDISTILL_CHROMIUM']) {
    const path = env[variable];
    if (path === undefined || path === '') continue;
    // A path the user named must be the one used: never fall back silently.
    return lookup.isExecutable(path)
      ? { found: true, path, from: variable }
      : { found: false, reason: `${variable}=${path} is not an executable file` };
  }
  if (lookup.isExecutable(DEFAULT_CHROMIUM))
    return { found: true, path: DEFAULT_CHROMIUM, from: 'default' };
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean))
    for (const name of NAMES_ON_PATH) {
      const path = join(dir, name);
      if (lookup.isExecutable(path)) return { found: true, path, from: 'PATH' };
    }
  return {
    found: false,
    reason: `no Chromium at ${DEFAULT_CHROMIUM} or as ${NAMES_ON_PATH.join('/')} on PATH`,
  };
}

/** What the pretest step does when Chromium is missing. */
export type MissingChromiumPlan =
  { action: 'install'; message: string } | { action: 'fail'; message: string };

/**
 * Installs Debian's package where it can (root with apt-get, and no path the user named),
 * otherwise fails with one line saying what is needed.
 */
export function planForMissingChromium(
  lookup: Extract<ChromiumLookup, { found: false }>,
  context: { isRoot: boolean; hasAptGet: boolean; userNamedPath: boolean },
): MissingChromiumPlan {
  const need =
    "browser tests need Chromium: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH=/path/to/chromium";
  if (context.userNamedPath) return { action: 'fail', message: `${lookup.reason}; ${need}` };
  if (context.isRoot && context.hasAptGet)
    return {
      action: 'install',
      message: `${lookup.reason}: installing Debian's chromium with apt-get for the browser tests (once)`,
    };
  return { action: 'fail', message: `${lookup.reason}; ${need}` };
}
