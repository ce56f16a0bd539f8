/**
 * The coordinator's HTTP API and dashboard at and after the end of a run:
 * a request made while the end-of-run summary is being measured is answered
 * before that work finishes (the timing yields to the event loop), the
 * summary then reaches the dashboard snapshot, and with `lingerAfterRunMs`
 * the server keeps answering after the run until the linger ends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import { runAndSummarize } from '../../cli/coordinatorSetup.js';
import type { DashboardSnapshot } from '../../server/dashboard/snapshot.js';
import { summarizeRun } from '../../server/summary.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { buildProgram } from '../../cli/program.js';
import { SMALL_MODELS, smallTraining } from '../support/smallRun.js';

const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-end-of-run-'));
let prepared: PreparedCoordinator;

before(async () => {
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 1,
      minClients: 1,
      waitForClientsMs: 60_000,
      training: smallTraining(),
      lingerAfterRunMs: 'forever',
    },
    backend: 'cpu',
    ...SMALL_MODELS,
    demoClients: 2,
    log: () => undefined,
  });
});

after(async () => {
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

test('an HTTP request made during the end-of-run measurement is answered before it finishes', async () => {
  const { running } = prepared;
  const order: string[] = [];
  const summary = summarizeRun({
    result: {
      runId: running.coordinator.runId,
      status: 'stopped',
      rounds: [],
      finalStudentAccuracy: null,
      studentExport: null,
      studentParams: running.coordinator.studentParams,
    },
    teacher: prepared.teacher,
    teacherAccuracy: running.teacherAccuracy,
    student: running.coordinator.studentModel,
    test: prepared.test,
    clients: [],
    artifactBytes: 0,
    checkpoint: 'unused',
    backend: 'cpu',
    config: prepared.config,
    studentSpec: prepared.studentSpec,
  }).then((value) => {
    order.push('summary');
    return value;
  });
  // Issued after summarizeRun has started: a summary that held the event loop would finish first.
  const status = fetch(`${running.url}/api/status`).then(async (response) => {
    order.push(`http ${response.status}`);
    return response.json();
  });
  await Promise.all([summary, status]);
  assert.deepEqual(order, ['http 200', 'summary']);
  const measured = await summary;
  assert.ok(measured.timesFaster > 0 && Number.isFinite(measured.timesFaster));
});

test('the run ends, the summary reaches the dashboard, and the server lingers until told to stop', async () => {
  const { running } = prepared;
  const done = runAndSummarize(prepared, join(dataDir, 'summary.json'));
  running.coordinator.stop();
  const { summary } = await done;
  const snapshot = (await (
    await fetch(`${running.url}/api/dashboard`)
  ).json()) as DashboardSnapshot;
  assert.equal(snapshot.status.state, 'stopped');
  assert.deepEqual(snapshot.summary, JSON.parse(JSON.stringify(summary)));
  assert.ok(
    snapshot.events.some((e) => e.text.startsWith('summary: student')),
    JSON.stringify(snapshot.events),
  );

  let lingered = false;
  const linger = running.linger().then(() => (lingered = true));
  // Several event-loop turns and HTTP round trips later it still lingers and still answers.
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${running.url}/`);
    assert.equal(response.status, 200);
    await response.text();
  }
  assert.equal(lingered, false, "'forever' lingers until endLinger()");
  running.endLinger();
  await linger;
  assert.equal(lingered, true);
});

test('lingerAfterRunMs takes milliseconds or "forever", defaults to 0, and names itself when wrong', () => {
  assert.equal(parseCoordinatorConfig({}).lingerAfterRunMs, 0);
  assert.equal(parseCoordinatorConfig({ lingerAfterRunMs: 'forever' }).lingerAfterRunMs, 'forever');
  assert.equal(parseCoordinatorConfig({ lingerAfterRunMs: 5000 }).lingerAfterRunMs, 5000);
  assert.throws(() => parseCoordinatorConfig({ lingerAfterRunMs: -1 }), /lingerAfterRunMs/);
  assert.throws(() => parseCoordinatorConfig({ lingerAfterRunMs: 'later' }), /lingerAfterRunMs/);
  const serve = buildProgram().commands.find((c) => c.name() === 'serve')!;
  serve.exitOverride().configureOutput({ writeErr: () => undefined });
  assert.throws(
    () => serve.parse(['--linger-ms', 'soon'], { from: 'user' }),
    /neither a whole number of milliseconds/,
  );
});
