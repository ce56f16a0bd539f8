/**
 * `npm test`'s first step (package.json "pretest"): makes sure the browser tests
 * have a Chromium. Found: nothing to do. Missing, as root with apt-get: installs
 * Debian's `chromium`, saying so in one line. Otherwise: fails with one line
 * saying what is needed — never a silent skip of the browser tests.
 */
import { spawnSync } from 'node:child_process';
import { findChromium, isExecutable, planForMissingChromium } from './chromium.js';

function fail(message: string): never {
  process.stderr.write(`pretest: ${message}\n`);
  process.exit(1);
}

const lookup = findChromium();
if (!lookup.found) {
  const hasAptGet = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  const plan = planForMissingChromium(lookup, {
    isRoot: process.getuid?.() === 0,
    hasAptGet,
    userNamedPath: Boolean(process.env.CHROMIUM_PATH || process.env.FEDISTILL_CHROMIUM),
  });
  if (plan.action === 'fail') fail(plan.message);
  process.stderr.write(`pretest: ${plan.message}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', 'chromium'],
  ]) {
    const run = spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (run.status !== 0)
      fail(
        `apt-get ${args.join(' ')} failed (${run.stderr.toString().trim().split('\n').at(-1) ?? `exit ${run.status}`}); browser tests need Chromium: set CHROMIUM_PATH=/path/to/chromium`,
      );
  }
  const after = findChromium({ env: process.env, isExecutable });
  if (!after.found) fail(`installed chromium but still ${after.reason}`);
  process.stderr.write(`pretest: chromium installed at ${after.path}\n`);
}
