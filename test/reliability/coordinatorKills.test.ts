/**
 * The coordinator is killed with SIGKILL at random points of a run, at least
 * ten times, and restarted on the same data directory with --resume while
 * real client processes keep reconnecting. No completed round or its metrics
 * may be lost, and the exported student must be the one SQLite describes.
 * Then three kills in secure rounds: a round cut short is re-run under a new
 * session, with fresh keys on both sides.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import * as tf from '@tensorflow/tfjs';
import { createRng, evaluate } from '../../shared/index.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { fileModelLoader } from '../../node/modelFiles.js';
import { outputMatches, runCli } from '../integration/processes.js';
import { freePort } from '../support/ports.js';

/**
 * Kills the coordinator `kills` times while two client processes keep reconnecting, then lets
 * the last life finish `rounds` aggregated rounds; checks nothing completed was lost.
 */
async function killAndResume(
  t: TestContext,
  {
    kills: killsWanted,
    rounds: roundsWanted,
    serveFlags,
  }: { kills: number; rounds: number; serveFlags: string[] },
): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-kills-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serveArgs = [
    'serve',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--resume',
    '--rounds',
    String(roundsWanted),
    '--min-clients',
    '2',
    '--epochs',
    '2',
    '--teacher-spec',
    'mlp:64',
    '--teacher-epochs',
    '1',
    '--student',
    'mlp:16',
    '--backend',
    'wasm',
    '--round-timeout',
    '60',
    ...serveFlags,
  ];
  const rng = createRng(2026);
  const clients = [0, 1].map((i) =>
    runCli(
      [
        'join',
        '--server',
        url,
        '--data',
        `demo:${i}/2`,
        '--backend',
        'wasm',
        '--cache-dir',
        join(dataDir, `cache-${i}`),
        // A kill can land before a client's first join completes, and on a loaded machine the
        // next life may take longer to listen than join's default 60 s of trying: keep trying.
        '--connect-timeout',
        '600',
      ],
      600_000,
    ),
  );
  const lives: string[] = [];
  let kills = 0;
  try {
    while (kills < killsWanted) {
      const serve = runCli(serveArgs, 120_000);
      const listening = await outputMatches(serve, /listening on/, 60_000);
      assert.ok(listening, `coordinator did not start:\n${serve.output()}`);
      // A random point: during client reconnection, training, aggregation or checkpointing —
      // but no later than just after this life's first aggregated round (polled every 50 ms), so
      // that however fast rounds run, the run outlasts the kills (10 lives, 30 rounds).
      await outputMatches(serve, /round \d+ \(\d+\/\d+\):/, 300 + rng.next() * 3500);
      if (serve.child.exitCode !== null) {
        lives.push(serve.output());
        assert.fail(
          `the coordinator exited before it was killed (the run must outlast ${killsWanted} kills):\n${serve.output()}`,
        );
      }
      serve.child.kill('SIGKILL');
      await serve.exited;
      lives.push(serve.output());
      kills += 1;
    }
    const last = runCli(serveArgs, 300_000);
    const { code, output } = await last.exited;
    assert.equal(
      code,
      0,
      `${output}\n${clients.map((c, i) => `client ${i} (exit ${c.child.exitCode}):\n${c.output().slice(-3000)}`).join('\n')}`,
    );
    lives.push(output);
    for (const client of clients) assert.equal((await client.exited).code, 0, client.output());
  } finally {
    for (const client of clients) client.kill();
  }

  const db = new Database(join(dataDir, 'fedistill.sqlite'), { readonly: true });
  const runs = db.prepare('SELECT id, status FROM runs').all() as {
    id: string;
    status: string;
  }[];
  const rounds = db
    .prepare(
      'SELECT round, status, model_version, student_accuracy FROM rounds WHERE run_id = ? ORDER BY round',
    )
    .all(runs[0]?.id) as {
    round: number;
    status: string;
    model_version: number;
    student_accuracy: number;
  }[];
  db.close();
  const resumedLives = lives.filter((l) => /resume: run /.test(l)).length;
  t.diagnostic(
    `kills ${kills}, lives that resumed ${resumedLives}, rounds recorded ${rounds.length}`,
  );
  assert.equal(runs.length, 1, 'every restart resumed the one run');
  assert.equal(runs[0]!.status, 'completed');
  const aggregated = rounds.filter((r) => r.status === 'aggregated');
  assert.equal(aggregated.length, roundsWanted);
  // No completed round lost: model versions 1…rounds, each exactly once, in round order.
  assert.deepEqual(
    aggregated.map((r) => r.model_version),
    Array.from({ length: roundsWanted }, (_, i) => i + 1),
  );
  for (let i = 1; i < rounds.length; i++) assert.ok(rounds[i]!.round > rounds[i - 1]!.round);

  await tf.setBackend('cpu');
  const test = demoSplit({ clients: 2 }).test;
  const student = await tf.loadLayersModel(
    fileModelLoader(join(dataDir, 'runs', runs[0]!.id, 'student', 'model.json')),
  );
  assert.equal(
    evaluate(student, test).accuracy,
    aggregated.at(-1)!.student_accuracy,
    'checkpoint and SQLite agree',
  );
  student.dispose();
  rmSync(dataDir, { recursive: true, force: true });
}

test(`10 SIGKILLs of the coordinator lose no completed round`, { timeout: 600_000 }, (t) =>
  killAndResume(t, { kills: 10, rounds: 30, serveFlags: [] }),
);

test(
  'SIGKILLs in secure rounds: each re-run round gets fresh keys, no completed round is lost',
  { timeout: 600_000 },
  (t) => killAndResume(t, { kills: 3, rounds: 6, serveFlags: ['--secure-aggregation'] }),
);
