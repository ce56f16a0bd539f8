/**
 * The pretest step's Chromium lookup and what it does when none is found: the
 * lookup with a fake file system and PATH, the decision table, and the real
 * script run as a process with CHROMIUM_PATH pointing at a fake executable and
 * at nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findChromium, planForMissingChromium } from '../../../scripts/chromium.js';

const PRETEST = fileURLToPath(new URL('../../../scripts/pretest.ts', import.meta.url));

function lookupWith(env: Record<string, string>, executables: string[]) {
  return findChromium({ env, isExecutable: (path) => executables.includes(path) });
}

test('lookup order: CHROMIUM_PATH, FEDISTILL_CHROMIUM, /usr/bin/chromium, then PATH', () => {
  assert.deepEqual(
    lookupWith({ CHROMIUM_PATH: '/opt/c/chrome' }, ['/opt/c/chrome', '/usr/bin/chromium']),
    {
      found: true,
      path: '/opt/c/chrome',
      from: 'CHROMIUM_PATH',
    },
  );
  assert.deepEqual(lookupWith({ FEDISTILL_CHROMIUM: '/x/chromium' }, ['/x/chromium']), {
    found: true,
    path: '/x/chromium',
    from: 'FEDISTILL_CHROMIUM',
  });
  assert.deepEqual(
    lookupWith({ PATH: '/bin:/snap/bin' }, ['/usr/bin/chromium', '/snap/bin/chromium']),
    {
      found: true,
      path: '/usr/bin/chromium',
      from: 'default',
    },
  );
  assert.deepEqual(lookupWith({ PATH: '/bin:/snap/bin' }, ['/snap/bin/chromium-browser']), {
    found: true,
    path: '/snap/bin/chromium-browser',
    from: 'PATH',
  });
  // A path the user named that is not there is an error, not a reason to look elsewhere.
  assert.deepEqual(lookupWith({ CHROMIUM_PATH: '/gone' }, ['/usr/bin/chromium']), {
    found: false,
    reason: 'CHROMIUM_PATH=/gone is not an executable file',
  });
  const none = lookupWith({ PATH: '/bin' }, []);
  assert.equal(none.found, false);
});

test('missing Chromium: install with apt-get as root, otherwise one line saying what is needed', () => {
  const missing = { found: false as const, reason: 'no Chromium at /usr/bin/chromium' };
  assert.equal(
    planForMissingChromium(missing, { isRoot: true, hasAptGet: true, userNamedPath: false }).action,
    'install',
  );
  for (const context of [
    { isRoot: false, hasAptGet: true, userNamedPath: false },
    { isRoot: true, hasAptGet: false, userNamedPath: false },
    { isRoot: true, hasAptGet: true, userNamedPath: true },
  ]) {
    const plan = planForMissingChromium(missing, context);
    assert.equal(plan.action, 'fail', JSON.stringify(context));
    assert.match(plan.message, /apt-get install chromium\) or set CHROMIUM_PATH=/);
    assert.ok(!plan.message.includes('\n'));
  }
});

test('the pretest script passes with a Chromium and fails in one line without one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-pretest-'));
  try {
    const fake = join(dir, 'chromium');
    writeFileSync(fake, '#!/bin/sh\nexit 0\n');
    chmodSync(fake, 0o755);
    const run = (chromiumPath: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', PRETEST], {
        env: { ...process.env, CHROMIUM_PATH: chromiumPath },
        encoding: 'utf8',
      });
    const ok = run(fake);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr, '');
    const missing = run(join(dir, 'no-such-chromium'));
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(
      missing.stderr,
      /^pretest: CHROMIUM_PATH=.*no-such-chromium is not an executable file; browser tests need Chromium/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
