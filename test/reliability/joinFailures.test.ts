/**
 * `fedistill join` when joining cannot work, with real client processes:
 * - an unreachable coordinator: it says what it tries, retries with backoff, and gives up after
 *   `--connect-timeout` with a clear error and exit code 4;
 * - a malformed or non-http URL: a clear error and exit code 4 at once;
 * - private data that do not fit the student: exit code 3 with the cause, and the coordinator
 *   is told (`abstain`), so the round it was sampled in closes without waiting for it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { runCli } from '../integration/processes.js';
import { freePort } from '../support/ports.js';
import { startSmallCoordinator } from '../support/smallCoordinator.js';

test('join to an unreachable coordinator retries with backoff and gives up after --connect-timeout', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const client = runCli(
    ['join', '--server', url, '--data', 'demo:0/2', '--backend', 'cpu', '--connect-timeout', '3'],
    120_000,
  );
  const { code, output } = await client.exited;
  assert.equal(code, 4, output);
  assert.match(output, new RegExp(`connecting to ${url} \\(giving up after 3 s\\)`));
  assert.match(output, /not reachable \(ECONNREFUSED\); retry 1 in 0\.3 s/);
  assert.match(output, /retry 2 in 0\.5 s/);
  assert.match(
    output,
    new RegExp(
      `error: could not reach the coordinator at ${url} within 3 s \\(\\d+ attempts; last: ECONNREFUSED\\)`,
    ),
  );
});

test('join to a malformed or non-http URL fails at once with exit code 4', async () => {
  for (const [server, pattern] of [
    // Off a terminal the log is JSON lines, where the quotes are escaped.
    ['not a url', /--server \\?"not a url\\?" is not a URL/],
    ['ftp://127.0.0.1:1', /must be an http:\/\/ or https:\/\/ URL, not ftp:/],
  ] as const) {
    const { code, output } = await runCli(
      ['join', '--server', server, '--data', 'demo:0/2'],
      60_000,
    ).exited;
    assert.equal(code, 4, output);
    assert.match(output, pattern);
  }
});

test('a client whose data do not fit the student exits 3 and the round does not wait for it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-misfit-'));
  // 20 features per sample: the student takes 784.
  const rows = Array.from({ length: 50 }, (_, i) =>
    [i % 10, ...Array.from({ length: 20 }, (_, j) => ((i + j) % 7) / 7)].join(','),
  );
  writeFileSync(join(dataDir, 'data.csv'), `${rows.join('\n')}\n`);
  const coordinator = await startSmallCoordinator('misfit', {
    rounds: 1,
    minClients: 2,
    // Round 1 starts the moment the misfit joins (the honest client is there first), so the
    // misfit is sampled in it and abstains while it is open.
    waitForClientsMs: 60_000,
    roundTimeoutMs: 120_000,
    dropGraceMs: 60_000,
  });
  t.after(async () => {
    await coordinator.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const { running } = coordinator.prepared;
  const run = running.coordinator.run();
  const honest = runCli(
    [
      'join',
      '--server',
      coordinator.url,
      '--data',
      'demo:0/2',
      '--backend',
      'cpu',
      '--cache-dir',
      join(dataDir, 'cache'),
    ],
    180_000,
  );
  // The misfit joins second, so the first round cannot start with it alone.
  while (!coordinator.events.some((e) => e.type === 'client:joined'))
    await new Promise((resolve) => setTimeout(resolve, 20));
  const misfit = runCli(
    [
      'join',
      '--server',
      coordinator.url,
      '--data',
      dataDir,
      '--backend',
      'cpu',
      '--name',
      'misfit',
    ],
    120_000,
  );
  const misfitExit = await misfit.exited;
  assert.equal(misfitExit.code, 3, misfitExit.output);
  assert.match(
    misfitExit.output,
    /this client's data do not fit the run's student: the private data hold 20 values per sample \(1000 for 50 samples\); the run's student takes inputs of shape \[784\] = 784 values\. Told the coordinator \(abstain\)/,
  );
  const result = await run;
  const honestExit = await honest.exited;
  assert.equal(honestExit.code, 0, honestExit.output);
  assert.equal(result.status, 'completed');
  const [round] = result.rounds;
  assert.equal(round!.status, 'aggregated');
  assert.equal(round!.participants, 1);
  // Neither the deadline (120 s) nor the drop grace (60 s) was waited out.
  const abstained = coordinator.events.find((e) => e.type === 'client:abstained');
  assert.ok(abstained, 'the coordinator recorded the abstention');
  assert.ok(round!.durationMs < 60_000, `round 1 took ${round!.durationMs} ms`);
  const db = new Database(running.store.path, { readonly: true });
  const reasons = db
    .prepare("SELECT reason FROM updates WHERE status = 'rejected'")
    .all()
    .map((r) => (r as { reason: string }).reason);
  db.close();
  assert.ok(
    reasons.some((r) => /^abstained: data-mismatch: the private data hold 20 values/.test(r)),
    reasons.join('\n'),
  );
});
