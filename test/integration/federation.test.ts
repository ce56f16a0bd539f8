/**
 * The product's main job end to end: a real coordinator on port 0 and real
 * client processes over socket.io on 127.0.0.1, distilling on real MNIST.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import * as tf from '@tensorflow/tfjs';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import type { RunResult } from '../../server/coordinator.js';
import { fileModelLoader } from '../../node/modelFiles.js';
import { evaluate } from '../../shared/training/index.js';
import { runCli, type CliProcess } from './processes.js';
import { smallTraining } from '../support/smallRun.js';
import { startGate, type Gate } from '../support/gate.js';

const TOKEN = 'integration-secret';
const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-federation-'));
let prepared: PreparedCoordinator;
let result: RunResult;
const events: CoordinatorEvent[] = [];
const clients: CliProcess[] = [];
let lateJoiner: CliProcess | undefined;
let gate: Gate | undefined;

before(async () => {
  prepared = await prepareCoordinator({
    config: {
      port: 0,
      dataDir,
      rounds: 3,
      // Round 1 starts with the first three after 12 s; later rounds wait up to 12 s for the fourth.
      minClients: 4,
      waitForClientsMs: 12_000,
      roundTimeoutMs: 240_000,
      quorum: 1,
      tokens: [TOKEN],
      training: smallTraining({ updatePrecision: 'float32' }),
    },
    backend: 'wasm',
    teacherSpec: 'mlp:256',
    teacherEpochs: 3,
    student: 'mlp:32',
    demoClients: 4,
    log: () => undefined,
    onEvent: (event) => {
      events.push(event);
      // The fourth client may arrive once round 1 runs: it must take part in the next round.
      if (event.type === 'round:started' && event.roundId === 1) gate?.open();
    },
  });
  // The fourth client starts now, behind a shut gate, so its start-up (slow on a loaded machine)
  // is over when round 1 opens the gate; it then retries within 5 s and joins mid-run.
  const coordinatorPort = Number(new URL(prepared.running.url).port);
  gate = await startGate(coordinatorPort);
  lateJoiner = runCli([
    'join',
    '--name',
    'late',
    '--server',
    gate.url,
    '--data',
    'demo:3/4',
    '--token',
    TOKEN,
    '--backend',
    'wasm',
    '--cache-dir',
    join(dataDir, 'cache-3'),
    // It keeps retrying until the gate opens, however long round 1 takes to begin.
    '--connect-timeout',
    '240',
  ]);
  for (let i = 0; i < 3; i++) {
    clients.push(
      runCli([
        'join',
        '--server',
        prepared.running.url,
        '--data',
        `demo:${i}/4`,
        '--token',
        TOKEN,
        '--backend',
        'wasm',
        '--cache-dir',
        join(dataDir, `cache-${i}`),
      ]),
    );
  }
  result = await prepared.running.coordinator.run();
  const exits = await Promise.all(
    [...clients, ...(lateJoiner ? [lateJoiner] : [])].map((c) => c.exited),
  );
  for (const exit of exits) assert.equal(exit.code, 0, `client failed:\n${exit.output}`);
});

after(async () => {
  for (const client of [...clients, ...(lateJoiner ? [lateJoiner] : [])]) client.kill();
  await gate?.close();
  await prepared?.running.close();
  prepared?.teacher.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

test('three rounds aggregate and the student improves from the first to the last', () => {
  assert.equal(result.status, 'completed');
  const aggregated = result.rounds.filter((r) => r.status === 'aggregated');
  assert.equal(aggregated.length, 3);
  // Exactly one run:ended; clients leave once told, so it need not be the last event.
  assert.deepEqual(
    events.filter((e) => e.type === 'run:ended'),
    [{ type: 'run:ended', status: 'completed', roundsAggregated: 3 }],
  );
  const first = aggregated[0]!.studentAccuracy!;
  const last = aggregated[2]!.studentAccuracy!;
  assert.ok(
    last > first,
    `accuracy after the last round (${last}) should beat the first (${first})`,
  );
  assert.ok(
    prepared.running.teacherAccuracy > 0.85,
    `teacher accuracy ${prepared.running.teacherAccuracy}`,
  );
  for (const round of aggregated) {
    assert.ok(round.bytesDownPerClient > round.bytesUpPerClient * 0.5, 'bytes down recorded');
    // mlp:32 has 784·32+32 + 32·10+10 = 25,450 float32 weights: 101,800 bytes of delta plus framing.
    assert.ok(
      round.bytesUpPerClient > 101_800 && round.bytesUpPerClient < 103_000,
      `bytes up per client ${round.bytesUpPerClient}`,
    );
    assert.ok(round.agreement !== null && round.agreement > 0 && round.agreement <= 1);
  }
});

test('every round and update is recorded in SQLite', () => {
  const db = new Database(join(dataDir, 'fedistill.sqlite'), { readonly: true });
  try {
    const rounds = db
      .prepare('SELECT * FROM rounds WHERE run_id = ? ORDER BY round')
      .all(result.runId) as {
      round: number;
      status: string;
      student_accuracy: number;
      participants: number;
    }[];
    assert.deepEqual(
      rounds.map((r) => [r.round, r.status]),
      result.rounds.map((r) => [r.round, r.status]),
    );
    for (const [i, row] of rounds.entries())
      assert.equal(row.student_accuracy, result.rounds[i]!.studentAccuracy);
    const accepted = db
      .prepare("SELECT COUNT(*) AS n FROM updates WHERE run_id = ? AND status = 'accepted'")
      .get(result.runId) as { n: number };
    assert.equal(
      accepted.n,
      rounds.reduce((sum, r) => sum + r.participants, 0),
    );
    const run = db.prepare('SELECT status FROM runs WHERE id = ?').get(result.runId) as
      { status: string } | undefined;
    assert.ok(run);
  } finally {
    db.close();
  }
});

test('a client that joins mid-run takes part in the next round', () => {
  const lateJoin = events.findIndex((e) => e.type === 'client:joined' && e.name === 'late');
  assert.ok(lateJoin > 0, 'the late client joined');
  const lateId = (events[lateJoin] as { clientId: string }).clientId;
  const round1 = events.find((e) => e.type === 'round:started' && e.roundId === 1);
  assert.ok(
    round1?.type === 'round:started' && !round1.sampled.includes(lateId),
    'not in the round it joined during',
  );
  const next = events.slice(lateJoin).find((e) => e.type === 'round:started');
  assert.ok(next?.type === 'round:started', 'a round started after the late join');
  assert.ok(next.sampled.includes(lateId), `round ${next.roundId} sampled the late client`);
  assert.ok(
    events.some(
      (e) => e.type === 'update:accepted' && e.clientId === lateId && e.roundId === next.roundId,
    ),
    `the late client's update in round ${next.roundId} was accepted`,
  );
});

test('the exported checkpoint loads with tf.loadLayersModel and gives the recorded accuracy', async () => {
  const last = result.rounds.filter((r) => r.status === 'aggregated').at(-1)!;
  const model = await tf.loadLayersModel(
    fileModelLoader(join(prepared.running.checkpoints.finalDir, 'model.json')),
  );
  try {
    const { accuracy } = evaluate(model, prepared.test);
    assert.equal(accuracy, last.studentAccuracy);
  } finally {
    model.dispose();
  }
  const latest = await tf.loadLayersModel(
    fileModelLoader(
      join(
        prepared.running.checkpoints.checkpointDir,
        `round-${String(last.round).padStart(5, '0')}`,
        'model.json',
      ),
    ),
  );
  try {
    assert.equal(evaluate(latest, prepared.test).accuracy, last.studentAccuracy);
  } finally {
    latest.dispose();
  }
});
