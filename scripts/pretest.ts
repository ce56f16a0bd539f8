/**
 * `npm test`'s first step (package.json "pretest"): makes sure what the tests
 * drive from the system is there — Chromium for the browser tests, redis-server
 * for the Redis simulation tests, Debian's Fashion-MNIST files for the data
 * tests. Found: nothing to do. Missing, as root with apt-get: installs the
 * Debian packages, saying so in one line. Otherwise: fails with one line
 * saying what is needed — never a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findChromium, isExecutable, planForMissingChromium } from './chromium.js';

function fail(message: string): never {
  process.stderr.write(`pretest: ${message}\n`);
  process.exit(1);
}

const onPath = (command: string) =>
  spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const hasAptGet = onPath('apt-get');
const isRoot = process.getuid?.() === 0;

/** Debian packages to install, each with why the tests need it. */
const missing: { pkg: string; why: string }[] = [];
const chromium = findChromium();
if (!chromium.found) {
  const plan = planForMissingChromium(chromium, {
    isRoot,
    hasAptGet,
    userNamedPath: Boolean(process.env.CHROMIUM_PATH || process.env.FEDISTILL_CHROMIUM),
  });
  if (plan.action === 'fail') fail(plan.message);
  missing.push({ pkg: 'chromium', why: 'the browser tests' });
}
if (!onPath('redis-server')) missing.push({ pkg: 'redis-server', why: 'the Redis tests' });
if (!existsSync('/usr/share/datasets/fashion-mnist'))
  missing.push({ pkg: 'dataset-fashion-mnist', why: 'the data-source tests' });

if (missing.length > 0) {
  const list = missing.map((m) => `${m.pkg} (${m.why})`).join(', ');
  if (!isRoot || !hasAptGet)
    fail(`the tests need Debian packages that are missing: ${list}; apt-get install them as root`);
  process.stderr.write(`pretest: installing with apt-get, once: ${list}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', ...missing.map((m) => m.pkg)],
  ]) {
    const run = spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (run.status !== 0)
      fail(
        `apt-get ${args.join(' ')} failed (${run.stderr.toString().trim().split('\n').at(-1) ?? `exit ${run.status}`}); the tests need ${list}`,
      );
  }
  if (!chromium.found) {
    const after = findChromium({ env: process.env, isExecutable });
    if (!after.found) fail(`installed chromium but still ${after.reason}`);
    process.stderr.write(`pretest: chromium installed at ${after.path}\n`);
  }
}
