/**
 * fedbuff's run loop over an in-memory hub, message by message: an update that
 * comes while a full buffer is being aggregated waits (no ack yet) and goes into
 * the next buffer with its staleness counted there; each client is sent the
 * current model once its update is answered; an update must answer what its
 * client was sent; one still waiting when the run ends is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, mock, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { DirectoryCheckpoints } from '../../../server/checkpoints.js';
import { parseCoordinatorConfig } from '../../../server/config.js';
import type { CoordinatorEvent } from '../../../server/coordinator.js';
import { Coordinator } from '../../../server/coordinator.js';
import { RunStore } from '../../../server/store.js';
import type { JoinAccepted, RoundStart } from '../../../shared/index.js';
import { decodeWeights, encodeWeights, getFlatWeights, mlpSpec } from '../../../shared/index.js';
import type { MemoryLink } from '../../support/memoryHub.js';
import { MemoryHub } from '../../support/memoryHub.js';

const dirs: string[] = [];
before(() => tf.setBackend('cpu'));
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const metrics = { loss: 0.5, accuracy: 0.5, trainMillis: 1, steps: 1 };

function update(round: RoundStart, value: number) {
  const n = decodeWeights(round.weights!, round.weights!.length).length;
  return {
    roundId: round.roundId,
    modelVersion: round.modelVersion,
    numSamples: 2,
    delta: encodeWeights(new Float32Array(n).fill(value), 'float32'),
    metrics,
  };
}

/** A fedbuff coordinator over a memory hub, with its store and the global model after each round. */
function fedbuffRun(fedbuff: { bufferSize: number; maxStaleness: number }, rounds: number) {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-buffered-'));
  dirs.push(dir);
  const store = new RunStore(join(dir, 'fedistill.sqlite'));
  const hub = new MemoryHub();
  const coordinator = new Coordinator({
    runId: 'run-1',
    config: parseCoordinatorConfig({
      port: 0,
      dataDir: dir,
      strategy: 'fedbuff',
      fedbuff,
      rounds,
      minClients: 2,
      roundTimeoutMs: 60_000,
    }),
    hub,
    store,
    checkpoints: new DirectoryCheckpoints(join(dir, 'runs', 'run-1')),
    studentSpec: mlpSpec(3, [2], 2),
    test: { x: Float32Array.from([0, 0, 0, 1, 1, 1]), y: Int32Array.from([0, 1]), count: 2 },
    teacherTestPredictions: Int32Array.from([0, 1]),
    teacherTestAccuracy: 1,
    teacherHash: 'teacher',
    proxyInputs: { url: '/artifacts/proxy', hash: 'proxyhash', bytes: 10 },
    softLabels: { url: '/artifacts/labels', hash: 'labelshash', bytes: 10, temperature: 4 },
  });
  const events: CoordinatorEvent[] = [];
  coordinator.subscribe((event) => events.push(event));
  const join2 = () =>
    [3, 1].map((numSamples) => {
      const link = hub.connect();
      const joined = link.send('join', { platform: 'sim', backend: 'cpu', numSamples });
      assert.equal((joined as JoinAccepted).ok, true);
      return link;
    }) as [MemoryLink, MemoryLink];
  return { store, hub, coordinator, events, join2 };
}

test('fedbuff over the memory hub: updates during an aggregation wait for the next buffer, weighted there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-buffered-'));
  dirs.push(dir);
  const store = new RunStore(join(dir, 'fedistill.sqlite'));
  const hub = new MemoryHub();
  const coordinator = new Coordinator({
    runId: 'run-1',
    config: parseCoordinatorConfig({
      port: 0,
      dataDir: dir,
      strategy: 'fedbuff',
      fedbuff: { bufferSize: 1, maxStaleness: 1 },
      rounds: 3,
      minClients: 2,
      roundTimeoutMs: 60_000,
    }),
    hub,
    store,
    checkpoints: new DirectoryCheckpoints(join(dir, 'runs', 'run-1')),
    studentSpec: mlpSpec(3, [2], 2),
    test: { x: Float32Array.from([0, 0, 0, 1, 1, 1]), y: Int32Array.from([0, 1]), count: 2 },
    teacherTestPredictions: Int32Array.from([0, 1]),
    teacherTestAccuracy: 1,
    teacherHash: 'teacher',
    proxyInputs: { url: '/artifacts/proxy', hash: 'proxyhash', bytes: 10 },
    softLabels: { url: '/artifacts/labels', hash: 'labelshash', bytes: 10, temperature: 4 },
  });
  const w0 = getFlatWeights(coordinator.studentModel);
  const globals: Float32Array[] = [w0];
  coordinator.subscribe((event) => {
    if (event.type === 'round:closed') globals.push(getFlatWeights(coordinator.studentModel));
  });
  const running = coordinator.run();
  const [a, b] = [3, 1].map((numSamples) => {
    const link = hub.connect();
    const joined = link.send('join', { platform: 'sim', backend: 'cpu', numSamples });
    assert.equal((joined as JoinAccepted).ok, true);
    return link;
  });
  const startA = await a!.next<RoundStart>('round:start');
  const startB = await b!.next<RoundStart>('round:start');
  assert.deepEqual([startA.roundId, startA.modelVersion, startB.modelVersion], [1, 0, 0]);

  // A client cannot claim a model it was not sent.
  assert.deepEqual(
    (b!.send('update', { ...update(startB, 0.02), modelVersion: 5 }) as { error: { code: string } })
      .error.code,
    'stale-model',
  );
  // a fills round 1's buffer (K = 1); b's update comes while it is being aggregated.
  assert.deepEqual(a!.send('update', update(startA, 0.01)), { ok: true, roundId: 1 });
  let answeredB: unknown;
  const ackB = b!.sendLater('update', update(startB, 0.02)).then((r) => (answeredB = r));
  assert.equal(answeredB, undefined, 'no ack while the buffer is being aggregated');
  assert.deepEqual(await ackB, { ok: true, roundId: 2 }, 'it went into the next buffer');

  // a was sent version 1 when round 2 opened; b is sent version 2 when round 3 opens.
  const nextA = await a!.next<RoundStart>('round:start', (r) => r.modelVersion === 1);
  const nextB = await b!.next<RoundStart>('round:start', (r) => r.modelVersion === 2);
  assert.deepEqual([nextA.roundId, nextB.roundId], [2, 3]);
  // a answers version 1 in round 3 (τ = 1); b's update then waits, and the run ends meanwhile.
  assert.deepEqual(a!.send('update', update(nextA, 0.04)), { ok: true, roundId: 3 });
  const late = b!.sendLater('update', update(nextB, 0.08));
  const result = await running;
  assert.equal(result.status, 'completed');
  const refused = (await late) as { ok: false; error: { code: string; message: string } };
  assert.equal(refused.error.code, 'too-late');
  assert.match(refused.error.message, /has ended/);

  // w1 = w0 + 0.01; w2 = w1 + s(1)·0.02; w3 = w2 + s(1)·0.04, with s(1) = 1/√2.
  const s1 = 1 / Math.sqrt(2);
  const expected = [0.01, s1 * 0.02, s1 * 0.04];
  for (let k = 1; k <= 3; k++)
    for (let i = 0; i < w0.length; i++)
      assert.ok(
        Math.abs(globals[k]![i]! - globals[k - 1]![i]! - expected[k - 1]!) < 1e-6,
        `round ${k}, weight ${i}`,
      );
  assert.deepEqual(
    result.rounds.map((r) => [r.round, r.participants, r.meanStaleness, r.maxStaleness]),
    [
      [1, 1, 0, 0],
      [2, 1, 1, 1],
      [3, 1, 1, 1],
    ],
  );
  const rows = store.updates('run-1').map((u) => [u.round, u.status, u.reason?.split(':')[0]]);
  assert.deepEqual(rows, [
    [1, 'rejected', 'stale-model'],
    [1, 'accepted', 'staleness 0, weight 1.00000'],
    [2, 'accepted', 'staleness 1, weight 0.707107'],
    [3, 'accepted', 'staleness 1, weight 0.707107'],
    [3, 'rejected', 'too-late'],
  ]);
  coordinator.dispose();
  store.close();
});

test('a dispatch that throws (the link breaks on round:start) is a fault event; the run goes on', async () => {
  const { coordinator, events, join2, store } = fedbuffRun({ bufferSize: 2, maxStaleness: 1 }, 1);
  const running = coordinator.run();
  const [a, b] = join2();
  const startA = await a.next<RoundStart>('round:start');
  const startB = await b.next<RoundStart>('round:start');
  // a's next model goes out from setImmediate, outside every handler's guard.
  const emit = a.emit.bind(a);
  a.emit = ((event: Parameters<MemoryLink['emit']>[0], ...args: [never]) => {
    if (event === 'round:start') throw new Error('round:start: socket already destroyed');
    emit(event, ...args);
  }) as MemoryLink['emit'];
  assert.deepEqual(a.send('update', update(startA, 0.01)), { ok: true, roundId: 1 });
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(
    events.filter((e) => e.type === 'coordinator:fault'),
    [
      {
        type: 'coordinator:fault',
        where: 'dispatch',
        message: 'round:start: socket already destroyed',
      },
    ],
  );
  assert.deepEqual(b.send('update', update(startB, 0.02)), { ok: true, roundId: 1 });
  assert.equal((await running).status, 'completed');
  coordinator.dispose();
  store.close();
});

test('one update per client waits for the next buffer; another meanwhile is refused duplicate at once', async () => {
  const { coordinator, join2, store } = fedbuffRun({ bufferSize: 1, maxStaleness: 1 }, 2);
  const running = coordinator.run();
  const [a, b] = join2();
  const startA = await a.next<RoundStart>('round:start');
  const startB = await b.next<RoundStart>('round:start');
  assert.deepEqual(a.send('update', update(startA, 0.01)), { ok: true, roundId: 1 });
  // Round 1's buffer is full and aggregating: b's first update waits, its second does not.
  const waiting = b.sendLater('update', update(startB, 0.02));
  const again = b.send('update', update(startB, 0.04)) as {
    ok: false;
    error: { code: string; message: string };
  };
  assert.equal(again.error.code, 'duplicate');
  assert.match(again.error.message, /already waiting for the next buffer/);
  assert.deepEqual(await waiting, { ok: true, roundId: 2 });
  assert.equal((await running).status, 'completed');
  assert.deepEqual(
    store.updates('run-1').map((u) => [u.round, u.status, u.reason?.split(':')[0]]),
    [
      [1, 'accepted', 'staleness 0, weight 1.00000'],
      [1, 'rejected', 'duplicate'],
      [2, 'accepted', 'staleness 1, weight 0.707107'],
    ],
  );
  coordinator.dispose();
  store.close();
});

test('a late answer to a model it was sent gets the client the current model; a forged claim gets it nothing', async () => {
  const { coordinator, join2, store } = fedbuffRun({ bufferSize: 2, maxStaleness: 1 }, 1);
  const running = coordinator.run();
  const [a, b] = join2();
  const startA = await a.next<RoundStart>('round:start');
  const startB = await b.next<RoundStart>('round:start');
  const starts = (link: MemoryLink) => link.received.filter((r) => r.event === 'round:start');
  // Both deadlines pass (the clock jumps; the round's own 60 s timer is real and keeps it open).
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  try {
    mock.timers.tick(61_000);
    const late = a.send('update', update(startA, 0.01)) as { error: { code: string } };
    assert.equal(late.error.code, 'too-late');
    const forged = b.send('update', { ...update(startB, 0.02), modelVersion: 7 }) as {
      error: { code: string };
    };
    assert.equal(forged.error.code, 'stale-model');
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(starts(a).length, 2, 'a is sent the current model after its late answer');
    assert.equal(starts(b).length, 1, 'b is sent nothing after claiming a model it was never sent');
    const againA = starts(a)[1]!.payload as RoundStart;
    assert.deepEqual([againA.roundId, againA.modelVersion], [1, 0]);
    assert.ok(againA.deadline > Date.now());
    assert.deepEqual(a.send('update', update(againA, 0.01)), { ok: true, roundId: 1 });
    // b's honest late answer (what it was sent, past its deadline) gets it a model too.
    assert.equal(
      (b.send('update', update(startB, 0.02)) as { error: { code: string } }).error.code,
      'too-late',
    );
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(starts(b).length, 2);
    assert.deepEqual(b.send('update', update(starts(b)[1]!.payload as RoundStart, 0.02)), {
      ok: true,
      roundId: 1,
    });
  } finally {
    mock.timers.reset();
  }
  assert.equal((await running).status, 'completed');
  assert.deepEqual(
    store.updates('run-1').map((u) => [u.status, u.reason?.split(':')[0]]),
    [
      ['rejected', 'too-late'],
      ['rejected', 'stale-model'],
      ['accepted', 'staleness 0, weight 1.00000'],
      ['rejected', 'too-late'],
      ['accepted', 'staleness 0, weight 1.00000'],
    ],
  );
  coordinator.dispose();
  store.close();
});
