/**
 * Experiment, not a timing test: 10 simulated clients on IID shards of real
 * MNIST digits train a small MLP with FedAvg rounds in-process; 2 of them (20%)
 * are Byzantine and send a corrupted version of their honest update. The test
 * accuracy after the last round is reported for each aggregator and attack
 * (t.diagnostic), and the robust aggregators must beat plain FedAvg by a clear
 * margin where the attack breaks it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  coordinateMedian,
  fedAvgAggregator,
  krum,
  normClipping,
  trimmedMean,
} from '../../shared/aggregation/robust/index.js';
import type { Aggregator, ClientDelta } from '../../shared/aggregation/robust/index.js';
import { createRng, partitionIid, subset } from '../../shared/data/index.js';
import type { LabeledData } from '../../shared/data/index.js';
import { buildModel, getFlatWeights, mlpSpec, setFlatWeights } from '../../shared/models/index.js';
import { evaluate, trainLocal } from '../../shared/training/index.js';
import type { TrainConfig } from '../../shared/training/index.js';
import { loadMnist } from '../../node/data/index.js';

await tf.setBackend('wasm');

const CLIENTS = 10;
const BYZANTINE = [0, 1]; // 20%
const ROUNDS = 4;
const spec = mlpSpec(784, [32], 10);
const config: TrainConfig = {
  epochs: 1,
  batchSize: 32,
  learningRate: 0.1,
  temperature: 1,
  alpha: 1,
  optimizer: 'sgd',
};

const all = loadMnist({ count: 4000 });
const train = subset(
  all,
  Int32Array.from({ length: 3000 }, (_, i) => i),
);
const testSet = subset(
  all,
  Int32Array.from({ length: 1000 }, (_, i) => 3000 + i),
);
const shards: LabeledData[] = partitionIid(train.y, CLIENTS, createRng(7)).map((idx) =>
  subset(train, idx),
);

type Attack = 'none' | 'sign-flip' | 'scale-10' | 'sign-flip-10';
const ATTACKS: Attack[] = ['none', 'sign-flip', 'scale-10', 'sign-flip-10'];
const FACTOR: Record<Attack, number> = {
  none: 1,
  'sign-flip': -1,
  'scale-10': 10,
  'sign-flip-10': -10,
};

function aggregators(): Aggregator[] {
  return [
    fedAvgAggregator(),
    coordinateMedian(),
    trimmedMean({ beta: 0.2 }),
    krum({ f: 2 }),
    krum({ f: 2, m: 6 }),
    normClipping(),
  ];
}

/** Runs ROUNDS federated rounds and returns the final test accuracy. */
async function run(aggregator: Aggregator, attack: Attack): Promise<number> {
  const model = buildModel(spec, 1);
  let global = getFlatWeights(model);
  for (let round = 0; round < ROUNDS; round++) {
    const updates: ClientDelta[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      setFlatWeights(model, global);
      const r = await trainLocal({
        model,
        spec,
        data: shards[c] as LabeledData,
        config,
        seed: round * 100 + c,
        yieldEvery: 1000,
      });
      const after = getFlatWeights(model);
      const factor = BYZANTINE.includes(c) ? FACTOR[attack] : 1;
      const delta = new Float32Array(after.length);
      for (let i = 0; i < delta.length; i++) {
        delta[i] = factor * ((after[i] as number) - (global[i] as number));
      }
      updates.push({ delta, numSamples: r.numSamples });
    }
    const step = aggregator.aggregate(updates);
    const next = new Float32Array(global.length);
    for (let i = 0; i < next.length; i++) next[i] = (global[i] as number) + (step[i] as number);
    global = next;
  }
  setFlatWeights(model, global);
  const { accuracy } = evaluate(model, testSet);
  model.dispose();
  return accuracy;
}

test('robust aggregators under 20% Byzantine clients on real MNIST shards', async (t) => {
  const started = performance.now();
  const before = tf.memory().numTensors;
  const table = new Map<string, Map<Attack, number>>();
  for (const attack of ATTACKS) {
    for (const agg of aggregators()) {
      const accuracy = await run(agg, attack);
      const row = table.get(agg.name) ?? new Map<Attack, number>();
      row.set(attack, accuracy);
      table.set(agg.name, row);
    }
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors leak across runs');
  const pct = (v: number | undefined): string => `${((v ?? NaN) * 100).toFixed(1)}%`.padStart(8);
  t.diagnostic(
    `${CLIENTS} clients (${BYZANTINE.length} Byzantine), ${ROUNDS} rounds, ` +
      `MLP 784-32-10, ${train.count} train / ${testSet.count} test digits, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  t.diagnostic(`${'aggregator'.padEnd(14)}${ATTACKS.map((a) => a.padStart(14)).join('')}`);
  for (const [name, row] of table) {
    t.diagnostic(`${name.padEnd(14)}${ATTACKS.map((a) => pct(row.get(a)).padStart(14)).join('')}`);
  }
  const fedavg = table.get('fedavg') as Map<Attack, number>;
  // Without attack everything learns (chance is 10%).
  for (const [name, row] of table) {
    assert.ok((row.get('none') ?? 0) > 0.6, `${name} without attack: ${row.get('none')}`);
  }
  // Scaled (×10) and sign-flipped ×10 updates break FedAvg; every robust aggregator stays
  // far above it. (A plain sign flip at the honest norm only slows FedAvg down: 8 honest
  // minus 2 flipped still points the right way, so no margin is asserted there.)
  for (const attack of ['scale-10', 'sign-flip-10'] as const) {
    const broken = fedavg.get(attack) ?? 1;
    assert.ok(broken < 0.5, `fedavg under ${attack}: ${broken}`);
    for (const [name, row] of table) {
      if (name === 'fedavg') continue;
      const attacked = row.get(attack) ?? 0;
      assert.ok(
        attacked > broken + 0.3,
        `${name} under ${attack}: ${attacked} vs fedavg ${broken}`,
      );
    }
  }
});
