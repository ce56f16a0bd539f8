/**
 * The FedProx term μ/2·‖w − w₀‖²: it adds exactly that to the loss, keeps a
 * client closer to the weights it started the round from, and leaks nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel, getFlatWeights, mlpSpec } from '../../../../shared/models/index.js';
import { trainLocal } from '../../../../shared/training/index.js';
import type { TrainConfig, TrainProgress } from '../../../../shared/training/index.js';
import { DistillationInputError } from '../../../../shared/errors.js';
import { digits } from './digits.js';

await tf.setBackend('cpu');
const spec = mlpSpec(784, [8], 10);
const data = digits(4);
const config: TrainConfig = {
  epochs: 3,
  batchSize: 10,
  learningRate: 0.05,
  temperature: 1,
  alpha: 1,
  optimizer: 'sgd',
};

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum);
}

async function run(mu: number): Promise<{ moved: number; progress: TrainProgress[] }> {
  const model = buildModel(spec, 3);
  const start = getFlatWeights(model);
  const progress: TrainProgress[] = [];
  const before = tf.memory().numTensors;
  await trainLocal({
    model,
    spec,
    data,
    config: { ...config, proximalMu: mu },
    seed: 1,
    onProgress: (p) => progress.push(p),
  });
  assert.equal(tf.memory().numTensors, before, 'anchors and terms are disposed');
  const moved = distance(getFlatWeights(model), start);
  model.dispose();
  return { moved, progress };
}

test('the proximal term keeps the weights nearer the start of the round', async () => {
  const free = await run(0);
  const held = await run(5);
  assert.ok(
    held.moved < free.moved * 0.8,
    `moved ${held.moved} with μ=5 vs ${free.moved} with μ=0`,
  );
});

test('at the first step w = w₀, so the term adds nothing: both runs report the same first loss', async () => {
  const free = await run(0);
  const held = await run(5);
  assert.equal(held.progress[0]!.loss, free.progress[0]!.loss);
  // (lr·μ = 0.25 keeps SGD on the proximal term stable.) Later steps carry μ/2·‖w − w₀‖² > 0 on top of the (different) cross-entropy.
  assert.notEqual(held.progress[1]!.loss, free.progress[1]!.loss);
});

test('a negative or non-finite μ is refused', async () => {
  const model = buildModel(spec, 3);
  for (const mu of [-1, Number.NaN]) {
    await assert.rejects(
      trainLocal({ model, spec, data, config: { ...config, proximalMu: mu } }),
      (error: unknown) =>
        error instanceof DistillationInputError && /proximalMu/.test(error.message),
    );
  }
  model.dispose();
});
