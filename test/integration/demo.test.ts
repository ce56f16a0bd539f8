/**
 * The README's first command, shrunk to CI size: `fedistill demo` with two
 * client processes and two rounds must finish and write a summary whose
 * numbers hang together.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunSummary } from '../../server/summary.js';
import { runCli } from './processes.js';

test('fedistill demo runs end to end and writes its summary JSON', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-demo-'));
  try {
    const demo = runCli(
      [
        'demo',
        '--clients',
        '2',
        '--rounds',
        '2',
        '--epochs',
        '1',
        '--teacher-spec',
        'mlp:128',
        '--teacher-epochs',
        '2',
        '--student',
        'mlp:32',
        '--data-dir',
        dataDir,
      ],
      600_000,
    );
    const { code, output } = await demo.exited;
    assert.equal(code, 0, output);
    assert.match(output, /student is [\d.]+× smaller and [\d.]+× faster at inference/);
    // Not a terminal: no bars (no carriage returns, no escape codes); logs and progress are
    // JSON lines, one per event, and the progress ones say how far and how long to go.
    assert.ok(!output.includes('\r') && !output.includes('\u001b'), 'terminal control codes');
    const records = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; component?: string; task?: string });
    const progress = (task: string) => records.filter((r) => r.task === task).map((r) => r.msg);
    assert.ok(progress('teacher').length >= 2, 'teacher training progress lines');
    assert.match(progress('teacher').at(-1)!, /^teacher 100% \(\d+\/\d+ steps\), ETA 0 s/);
    assert.deepEqual(
      progress('rounds').map((m) => m.replace(/ETA .*/, 'ETA')),
      [
        'rounds 0% (0/2 rounds), ETA',
        'rounds 50% (1/2 rounds), ETA',
        'rounds 100% (2/2 rounds), ETA',
      ],
    );
    assert.ok(records.some((r) => r.msg.startsWith('waiting for clients: ')));
    assert.ok(records.some((r) => r.component === 'demo' && r.msg === 'tfjs backend: wasm'));
    const summary = JSON.parse(readFileSync(join(dataDir, 'summary.json'), 'utf8')) as RunSummary;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.roundsAggregated, 2);
    assert.equal(summary.clients, 2);
    // The summary says how the run was set up: strategy, config (secrets withheld), data.
    assert.equal(summary.strategy, 'fedkd');
    assert.equal(summary.configuration.coordinator.rounds, 2);
    assert.equal(summary.configuration.coordinator.adminToken, '[none]');
    assert.equal(summary.configuration.studentSpec.numClasses, 10);
    assert.deepEqual(
      (summary.configuration.data as { inputShape: number[] }).inputShape,
      [28, 28, 1],
    );
    // mlp:128 teacher = 784·128+128 + 128·10+10 = 101,770; mlp:32 student = 784·32+32 + 32·10+10 = 25,450.
    assert.equal(summary.teacher.parameters, 101_770);
    assert.equal(summary.student.parameters, 25_450);
    assert.ok(Math.abs(summary.timesSmaller - 101_770 / 25_450) < 1e-9);
    assert.ok(
      summary.teacher.testAccuracy > 0.8,
      `teacher accuracy ${summary.teacher.testAccuracy}`,
    );
    assert.ok(summary.student.testAccuracy !== null && summary.student.testAccuracy > 0.5);
    assert.equal(
      summary.shareOfTeacherAccuracy,
      summary.student.testAccuracy / summary.teacher.testAccuracy,
    );
    assert.ok(summary.timesFaster > 0);
    assert.ok(
      summary.bytes.downPerClientPerRound > 25_450 * 4,
      'the float32 weights go down every round',
    );
    assert.ok(summary.bytes.artifactsPerClient > 0);
    assert.equal(summary.accuracyByRound.length, 2);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('fedistill demo --secure-aggregation: client processes mask their updates and the sum unmasks', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-demo-secure-'));
  try {
    const demo = runCli(
      [
        'demo',
        '--clients',
        '3',
        '--rounds',
        '1',
        '--epochs',
        '1',
        '--teacher-spec',
        'mlp:64',
        '--teacher-epochs',
        '1',
        '--student',
        'mlp:16',
        '--secure-aggregation',
        '--data-dir',
        dataDir,
      ],
      600_000,
    );
    const { code, output } = await demo.exited;
    assert.equal(code, 0, output);
    assert.match(output, /round 1: unmasked the sum of 3\/3 masked updates \(threshold 2\)/);
    const summary = JSON.parse(readFileSync(join(dataDir, 'summary.json'), 'utf8')) as RunSummary;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.roundsAggregated, 1);
    assert.ok(summary.student.testAccuracy !== null && summary.student.testAccuracy > 0.3);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
