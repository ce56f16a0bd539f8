/**
 * The coordinator's run loop over an in-memory hub (test/support/memoryHub.ts):
 * scripted clients join, get round:start, answer with deltas, and each round's
 * outcome is checked against hand-computed weights and the SQLite records —
 * including a strategy registered from one file of this test folder.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildProgram } from '../../../cli/program.js';
import { DirectoryCheckpoints } from '../../../server/checkpoints.js';
import type { CoordinatorConfigInput } from '../../../server/config.js';
import { parseCoordinatorConfig } from '../../../server/config.js';
import { Coordinator } from '../../../server/coordinator.js';
import type { CoordinatorEvent } from '../../../server/coordinator.js';
import { RunStore } from '../../../server/store.js';
import { registerStrategy, strategyNames } from '../../../server/strategies/index.js';
import type { JoinAccepted, RoundStart } from '../../../shared/index.js';
import { decodeWeights, encodeWeights, mlpSpec } from '../../../shared/index.js';
import { MemoryHub } from '../../support/memoryHub.js';
import type { MemoryLink } from '../../support/memoryHub.js';
import { signVoteStrategy } from './strategies/signVoteStrategy.js';

const dirs: string[] = [];
before(async () => {
  await tf.setBackend('cpu');
  registerStrategy(signVoteStrategy(0.25));
});
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const spec = mlpSpec(3, [2], 2);
const metrics = { loss: 0.5, accuracy: 0.5, trainMillis: 1, steps: 1 };

function coordinatorOver(
  hub: MemoryHub,
  config: CoordinatorConfigInput,
  more: { classNames?: readonly string[] } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-coordinator-'));
  dirs.push(dir);
  const store = new RunStore(join(dir, 'fedistill.sqlite'));
  const events: CoordinatorEvent[] = [];
  const coordinator = new Coordinator({
    runId: 'run-1',
    config: parseCoordinatorConfig({
      port: 0,
      dataDir: dir,
      minClients: 2,
      roundTimeoutMs: 5_000,
      ...config,
    }),
    hub,
    store,
    checkpoints: new DirectoryCheckpoints(join(dir, 'runs', 'run-1')),
    studentSpec: spec,
    test: { x: Float32Array.from([0, 0, 0, 1, 1, 1]), y: Int32Array.from([0, 1]), count: 2 },
    teacherTestPredictions: Int32Array.from([0, 1]),
    teacherTestAccuracy: 1,
    teacherHash: 'teacher',
    proxyInputs: { url: '/artifacts/proxy', hash: 'proxyhash', bytes: 10 },
    softLabels: { url: '/artifacts/labels', hash: 'labelshash', bytes: 10, temperature: 4 },
    onEvent: (event) => events.push(event),
    ...more,
  });
  return { coordinator, store, events };
}

function join2(hub: MemoryHub): { link: MemoryLink; joined: JoinAccepted }[] {
  return [1, 2].map((n) => {
    const link = hub.connect();
    const joined = link.send('join', {
      platform: 'sim',
      backend: 'cpu',
      numSamples: n === 1 ? 3 : 1,
    }) as JoinAccepted;
    assert.equal(joined.ok, true);
    return { link, joined };
  });
}

function deltaFor(round: RoundStart, values: (i: number) => number, numSamples: number) {
  const global = decodeWeights(round.weights!, round.weights!.length);
  const delta = Float32Array.from(global, (_, i) => values(i));
  return {
    roundId: round.roundId,
    modelVersion: round.modelVersion,
    numSamples,
    delta: encodeWeights(delta, 'float32'),
    metrics,
  };
}

test('fedavg over the memory hub: the round aggregates the sample-weighted mean and records every answer', async () => {
  const hub = new MemoryHub();
  const { coordinator, store, events } = coordinatorOver(hub, { strategy: 'fedavg', rounds: 1 });
  const initial = Float32Array.from(
    coordinator.studentModel.getWeights().flatMap((w) => [...w.dataSync()]),
  );
  const running = coordinator.run();
  const [a, b] = join2(hub);
  const round = await a!.link.next<RoundStart>('round:start');
  assert.equal(round.config.alpha, 1, 'fedavg has no teacher');
  // An update before its round is refused, recorded and changes nothing.
  const early = b!.link.send('update', { ...deltaFor(round, () => 9, 1), roundId: 2 }) as {
    ok: boolean;
    error?: { code: string };
  };
  assert.equal(early.error?.code, 'wrong-round');
  assert.deepEqual(
    a!.link.send(
      'update',
      deltaFor(round, () => 1, 3),
    ),
    { ok: true, roundId: 1 },
  );
  const again = a!.link.send(
    'update',
    deltaFor(round, () => 1, 3),
  ) as { error?: { code: string } };
  assert.equal(again.error?.code, 'duplicate');
  assert.deepEqual(
    b!.link.send(
      'update',
      deltaFor(round, () => -1, 1),
    ),
    {
      ok: true,
      roundId: 1,
    },
  );
  const result = await running;
  assert.equal(result.status, 'completed');
  // (3·1 + 1·(−1)) / 4 = 0.5 added to every weight.
  const final = coordinator.studentModel.getWeights().flatMap((w) => [...w.dataSync()]);
  final.forEach((w, i) => assert.ok(Math.abs(w - (initial[i]! + 0.5)) < 1e-6, `weight ${i}`));
  const [record] = store.rounds('run-1');
  assert.equal(record?.status, 'aggregated');
  assert.equal(record?.participants, 2);
  assert.equal(record?.rejected, 1, 'the duplicate counts against round 1');
  const reasons = store
    .updates('run-1')
    .filter((u) => u.status === 'rejected')
    .map((u) => u.reason?.split(':')[0]);
  assert.deepEqual(reasons.sort(), ['duplicate', 'wrong-round']);
  assert.ok(events.some((e) => e.type === 'round:closed'));
  coordinator.dispose();
  store.close();
});

test('a strategy registered from one file runs a federated round, and the CLI offers it', async () => {
  assert.ok(strategyNames().includes('sign-vote'));
  const serve = buildProgram().commands.find((c) => c.name() === 'serve')!;
  const choices = serve.options.find((o) => o.long === '--strategy')?.argChoices;
  assert.deepEqual(choices, strategyNames(), "the CLI's choices are the registry's");
  const hub = new MemoryHub();
  const { coordinator, store } = coordinatorOver(hub, { strategy: 'sign-vote', rounds: 1 });
  const initial = coordinator.studentModel.getWeights().flatMap((w) => [...w.dataSync()]);
  const running = coordinator.run();
  const clients = join2(hub);
  const round = await clients[0]!.link.next<RoundStart>('round:start');
  // Two clients push coordinate 0 down and every other up; a third of the size does not matter.
  for (const [n, { link }] of clients.entries())
    assert.deepEqual(
      link.send(
        'update',
        deltaFor(round, (i) => (i === 0 ? -1 : 0.001 * (n + 1)), 1),
      ),
      { ok: true, roundId: 1 },
    );
  await running;
  const final = coordinator.studentModel.getWeights().flatMap((w) => [...w.dataSync()]);
  final.forEach((w, i) =>
    assert.ok(Math.abs(w - (initial[i]! + (i === 0 ? -0.25 : 0.25))) < 1e-6, `weight ${i}`),
  );
  assert.equal(store.rounds('run-1')[0]?.status, 'aggregated');
  coordinator.dispose();
  store.close();
});

test('a round below quorum fails and leaves the global student unchanged', async () => {
  const hub = new MemoryHub();
  const { coordinator, store } = coordinatorOver(hub, {
    strategy: 'fedkd',
    rounds: 1,
    quorum: 1,
    roundTimeoutMs: 300,
    maxFailedRounds: 1,
  });
  const initial = coordinator.studentModel.getWeights().flatMap((w) => [...w.dataSync()]);
  const running = coordinator.run();
  const [a] = join2(hub);
  const round = await a!.link.next<RoundStart>('round:start');
  assert.deepEqual(
    a!.link.send(
      'update',
      deltaFor(round, () => 1, 3),
    ),
    { ok: true, roundId: 1 },
  );
  const result = await running;
  assert.equal(result.status, 'stopped', 'one failed round is maxFailedRounds here');
  assert.equal(store.rounds('run-1')[0]?.status, 'failed');
  const final = coordinator.studentModel.getWeights().flatMap((w) => [...w.dataSync()]);
  assert.deepEqual(final, initial);
  coordinator.dispose();
  store.close();
});

test('differential privacy wraps the strategy: clients are told to clip and noise, and ε grows per round', async () => {
  const hub = new MemoryHub();
  const { coordinator, store } = coordinatorOver(hub, {
    strategy: 'fedavg',
    rounds: 2,
    privacy: { clipNorm: 1, noiseMultiplier: 1 },
  });
  const running = coordinator.run();
  const clients = join2(hub);
  for (const roundId of [1, 2]) {
    const round = await clients[0]!.link.next<RoundStart>(
      'round:start',
      (r) => r.roundId === roundId,
    );
    assert.deepEqual(round.config.privacy, { clipNorm: 1, noiseMultiplier: 1 });
    for (const { link } of clients)
      link.send(
        'update',
        deltaFor(round, () => 0, 1),
      );
  }
  await running;
  const [first, second] = store.rounds('run-1').map((r) => r.privacyEpsilon!);
  assert.ok(first! > 0 && Number.isFinite(first!));
  assert.ok(second! > first!, `ε after two rounds (${second}) exceeds ε after one (${first})`);
  coordinator.dispose();
  store.close();
});

test('a strategy without a global model exports no student (the untrained copy is not a result)', async () => {
  const hub = new MemoryHub();
  const { coordinator, store } = coordinatorOver(hub, { strategy: 'local', rounds: 1 });
  const running = coordinator.run();
  const clients = join2(hub);
  const round = await clients[0]!.link.next<RoundStart>('round:start');
  assert.equal(round.weights, undefined);
  for (const { link } of clients)
    link.send('update', {
      roundId: 1,
      modelVersion: 0,
      numSamples: 1,
      metrics: { ...metrics, validationAccuracy: 0.75 },
    });
  const result = await running;
  assert.equal(result.status, 'completed');
  assert.equal(result.studentExport, null);
  assert.equal(result.finalStudentAccuracy, 0.75, "the clients' own mean validation accuracy");
  const dataDir = dirs.at(-1)!;
  assert.equal(existsSync(join(dataDir, 'runs', 'run-1', 'student')), false);
  coordinator.dispose();
  store.close();
});

test('a global-model strategy exports the trained student', async () => {
  const hub = new MemoryHub();
  const { coordinator, store } = coordinatorOver(hub, { strategy: 'fedavg', rounds: 1 });
  const running = coordinator.run();
  const clients = join2(hub);
  const round = await clients[0]!.link.next<RoundStart>('round:start');
  for (const { link } of clients)
    link.send(
      'update',
      deltaFor(round, () => 0.5, 1),
    );
  const result = await running;
  assert.ok(result.studentExport && existsSync(result.studentExport), `${result.studentExport}`);
  coordinator.dispose();
  store.close();
});

test("the status API names the run's classes where its data name them", () => {
  const named = coordinatorOver(new MemoryHub(), {}, { classNames: ['cat', 'dog'] });
  assert.deepEqual(named.coordinator.status().classNames, ['cat', 'dog']);
  const plain = coordinatorOver(new MemoryHub(), {});
  assert.equal('classNames' in plain.coordinator.status(), false);
  for (const { coordinator, store } of [named, plain]) {
    coordinator.dispose();
    store.close();
  }
});
