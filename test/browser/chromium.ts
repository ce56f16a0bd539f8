/**
 * Launching Debian's Chromium for browser tests with playwright-core (no
 * downloaded browsers: they cannot install here). Flags from the design notes:
 * they make headless Chromium work as root in containers. playwright gives
 * every launch a fresh temporary profile (--user-data-dir).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian's `apt-get install chromium` puts it; FEDISTILL_CHROMIUM overrides. */
export const CHROMIUM_PATH = process.env.FEDISTILL_CHROMIUM ?? '/usr/bin/chromium';

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
        '(apt-get install -y chromium; .ci/run installs it) or FEDISTILL_CHROMIUM=/path/to/chromium',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
}
