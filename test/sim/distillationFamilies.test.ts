/**
 * Each knowledge-distillation family in a federated run (the same coordinator
 * and clients as any simulation, over the in-memory transport): the term the
 * run names reaches every client (a hint or relation term trains only on the
 * teacher-feature artifact, so reporting it shows the artifact arrived), and its value — reported by each client
 * per round — falls from the first round to the last, i.e. the federated
 * student moves toward that term's target:
 * - feature (FitNets hint): the hint loss falls;
 * - relation (RKD distance): the gap between the student's and the teacher's
 *   normalised pairwise distances falls (PKT likewise);
 * - self-distillation under fedavg, with no teacher at all: the KL of each
 *   client's student to its round snapshot (the received global model) falls
 *   below what the same seeded run measures when the term only measures
 *   (weight 1e-6): local training drifts away from the snapshot every round,
 *   and the term is what holds it near.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { SimConfigInput } from '../../sim/config.js';
import type { TappedMessage } from '../../sim/simHub.js';
import { runSimulation } from '../../sim/simulate.js';
import type { UpdateMessage } from '../../shared/protocol/index.js';
import { tinyConfig } from './tinyConfig.js';
import { buildModel, cnnSpec, countParameters } from '../../shared/index.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'fedistill-families-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

const ROUNDS = 4;

async function familyRun(
  strategy: string,
  distillation: SimConfigInput['training'],
  overrides: SimConfigInput = {},
) {
  const messages: TappedMessage[] = [];
  const config = tinyConfig({
    cacheDir,
    strategy,
    rounds: ROUNDS,
    training: { epochs: 1, batchSize: 16, learningRate: 0.003, ...distillation },
    ...overrides,
  });
  const result = await runSimulation({
    config,
    writeOutputs: false,
    onMessage: (_s, _seed, message) => messages.push(message),
  });
  const run = result.runs[0]!;
  assert.equal(run.status, 'completed', run.error);
  const updates = messages
    .filter((m) => m.direction === 'up' && m.event === 'update')
    .map((m) => m.payload as UpdateMessage);
  /** Mean over the clients of a term's last-epoch value in round `roundId`. */
  const term = (name: string, roundId: number) => {
    const values = updates
      .filter((u) => u.roundId === roundId)
      .map((u) => u.metrics.terms?.[name])
      .filter((v): v is number => v !== undefined);
    assert.equal(values.length, config.clients, `every client reports ${name} in round ${roundId}`);
    return values.reduce((a, b) => a + b, 0) / values.length;
  };
  return { run, updates, term };
}

test('feature family: the FitNets hint loss falls over a federated fedkd run', async () => {
  const { term, updates } = await familyRun('fedkd', {
    distillation: [
      { name: 'response', weight: 1 },
      { name: 'hint', weight: 1 },
    ],
  });
  const first = term('hint', 1);
  const last = term('hint', ROUNDS);
  assert.ok(last < first, `hint ${first} → ${last}`);
  assert.ok(
    updates.every((u) => u.delta !== undefined),
    'weights are averaged as in fedkd',
  );
});

test('relation family: the RKD distance gap to the teacher falls over a federated run', async () => {
  const { term } = await familyRun('fedkd', {
    distillation: [
      { name: 'response', weight: 1 },
      { name: 'rkd-distance', weight: 1 },
      { name: 'pkt', weight: 1 },
    ],
  });
  const first = term('rkd-distance', 1);
  const last = term('rkd-distance', ROUNDS);
  assert.ok(last < first, `rkd-distance ${first} → ${last}`);
  assert.ok(term('pkt', ROUNDS) < term('pkt', 1), 'PKT falls too');
});

test('self-distillation under fedavg: the term pulls every round KL to the snapshot down, with no teacher', async () => {
  const pulled = await familyRun('fedavg', { distillation: [{ name: 'self', weight: 1 }] });
  const measured = await familyRun('fedavg', { distillation: [{ name: 'self', weight: 1e-6 }] });
  for (let round = 1; round <= ROUNDS; round++) {
    const withTerm = pulled.term('self', round);
    const without = measured.term('self', round);
    assert.ok(
      withTerm < without,
      `round ${round}: self KL ${withTerm} with the term, ${without} without`,
    );
  }
});

test('CNN teacher and student: a hint on the student’s convolutional features falls over a federated run', async () => {
  const { term, run } = await familyRun(
    'fedkd',
    {
      distillation: [
        { name: 'response', weight: 1 },
        // Layer 2 of the cnn shorthand is its second convolution; its maps are averaged per channel.
        { name: 'hint', weight: 1, studentLayer: 2, pooling: 'average' },
      ],
    },
    { teacher: { spec: 'cnn', epochs: 1 }, student: 'cnn' },
  );
  const cnn = buildModel(cnnSpec({ numClasses: 10 }), 1);
  assert.equal(run.studentParams, countParameters(cnn), 'the federated student is the CNN');
  cnn.dispose();
  const first = term('hint', 1);
  const last = term('hint', ROUNDS);
  assert.ok(last < first, `conv hint ${first} → ${last}`);
});
