/**
 * Launching Debian's Chromium for browser tests with playwright-core (no
 * downloaded browsers: they cannot install here). Flags from the design notes:
 * they make headless Chromium work as root in containers. playwright gives
 * every launch a fresh temporary profile (--user-data-dir).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { DEFAULT_CHROMIUM, findChromium } from '../../scripts/chromium.js';

/**
 * The same lookup as `npm test`'s pretest step (scripts/chromium.ts): CHROMIUM_PATH or
 * FEDISTILL_CHROMIUM, else Debian's /usr/bin/chromium, else chromium on PATH.
 */
const lookup = findChromium();
export const CHROMIUM_PATH = lookup.found ? lookup.path : DEFAULT_CHROMIUM;

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium. @throws Error saying how to install it when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: browser tests need Debian's chromium ` +
        '(apt-get install -y chromium; `npm test` installs it when run as root) or CHROMIUM_PATH=/path/to/chromium',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
}
