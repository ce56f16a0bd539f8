import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { DatasetError, DistillationInputError } from '../../../../shared/errors.js';
import { buildModel, cnnSpec, getFlatWeights, mlpSpec } from '../../../../shared/models/index.js';
import type { ModelSpec } from '../../../../shared/models/index.js';
import { evaluate, predictProbs, trainLocal } from '../../../../shared/training/index.js';
import type { TrainConfig, TrainProgress } from '../../../../shared/training/index.js';
import { digits } from './digits.js';

await tf.setBackend('wasm');

const train = digits(40); // 400 real digits, 40 per class
const held = digits(20, 100); // 200 other digits for testing
const base: TrainConfig = {
  epochs: 1,
  batchSize: 32,
  learningRate: 0.003,
  temperature: 3,
  alpha: 1,
};

function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  a.forEach((v, i) => (same += v === b[i] ? 1 : 0));
  return same / a.length;
}

test('a small CNN trains on wasm (custom conv gradients): loss falls, accuracy well above chance', async () => {
  const spec = cnnSpec();
  const model = buildModel(spec, 1);
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  for (let epoch = 0; epoch < 4; epoch++) {
    const r = await trainLocal({ model, spec, data: train, config: base, seed: epoch });
    losses.push(r.loss);
    assert.equal(r.numSamples, 400);
    assert.equal(r.steps, 13); // ceil(400 / 32)
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors outlive trainLocal');
  assert.ok((losses[3] ?? 9) < (losses[0] ?? 0) * 0.7, `losses ${losses.join(', ')}`);
  const { accuracy } = evaluate(model, held);
  assert.ok(accuracy > 0.6, `held-out accuracy ${accuracy} (chance 0.1)`);
  model.dispose();
});

test('an MLP trains on wasm with sgd, momentum and adam', async () => {
  const spec = mlpSpec(784, [64], 10);
  for (const optimizer of ['sgd', 'momentum', 'adam'] as const) {
    const model = buildModel(spec, 2);
    const learningRate = optimizer === 'adam' ? 0.003 : optimizer === 'momentum' ? 0.02 : 0.2;
    const r = await trainLocal({
      model,
      spec,
      data: train,
      config: { ...base, epochs: 4, optimizer, learningRate },
    });
    const { accuracy } = evaluate(model, held);
    assert.ok(r.accuracy > 0.5, `${optimizer}: train accuracy ${r.accuracy}`);
    assert.ok(accuracy > 0.6, `${optimizer}: held-out accuracy ${accuracy}`);
    model.dispose();
  }
});

test('distilling from teacher soft labels on a proxy set moves the student toward the teacher', async () => {
  // Teacher: an MLP trained on the labelled digits. Student: a CNN that sees only
  // 10 labelled digits (1 per class) plus the proxy digits with the teacher's soft labels.
  const teacherSpec = mlpSpec(784, [128], 10);
  const teacher = buildModel(teacherSpec, 3);
  await trainLocal({
    model: teacher,
    spec: teacherSpec,
    data: train,
    config: { ...base, epochs: 5 },
  });
  const teacherPred = evaluate(teacher, held).predictions;
  const proxyX = digits(30, 50).x; // 300 unlabelled digits
  const T = 3;
  const before = tf.memory().numTensors;
  const proxy = { x: proxyX, softLabels: predictProbs(teacher, proxyX, 300, T), count: 300 };
  assert.equal(tf.memory().numTensors, before);

  const spec = cnnSpec();
  const privateData = digits(1, 200);
  const run = async (alpha: number): Promise<number> => {
    const student = buildModel(spec, 4);
    const start = agreement(evaluate(student, held).predictions, teacherPred);
    await trainLocal({
      model: student,
      spec,
      data: privateData,
      proxy,
      config: { ...base, epochs: 40, batchSize: 10, proxyBatchSize: 32, temperature: T, alpha },
    });
    const end = agreement(evaluate(student, held).predictions, teacherPred);
    assert.ok(start < 0.3, `initial agreement ${start}`);
    student.dispose();
    return end;
  };
  const distilled = await run(0.1);
  const labelsOnly = await run(1); // α = 1 ignores the proxy
  assert.ok(distilled > 0.6, `agreement after distillation ${distilled}`);
  assert.ok(distilled > labelsOnly + 0.15, `distilled ${distilled} vs labels only ${labelsOnly}`);
  assert.equal(tf.memory().numTensors, before);
  teacher.dispose();
});

test('seeded: same seed and start give the same weights; progress, yields and abort', async () => {
  const spec: ModelSpec = mlpSpec(784, [16], 10);
  const data = digits(3);
  const proxy = {
    x: digits(2, 10).x,
    softLabels: new Float32Array(200).fill(0.1),
    count: 20,
  };
  const config: TrainConfig = { ...base, epochs: 2, batchSize: 8, alpha: 0.5, proxyBatchSize: 4 };
  const weights: Float32Array[] = [];
  for (const seed of [7, 7, 8]) {
    const model = buildModel(spec, 5);
    await trainLocal({ model, spec, data, proxy, config, seed });
    weights.push(getFlatWeights(model));
    model.dispose();
  }
  assert.deepEqual(weights[0], weights[1]);
  assert.notDeepEqual(weights[0], weights[2]);

  const model = buildModel(spec, 5);
  const progress: TrainProgress[] = [];
  let timerFired = -1;
  setTimeout(() => (timerFired = progress.length), 0);
  const r = await trainLocal({
    model,
    spec,
    data,
    proxy,
    config,
    yieldEvery: 1,
    onProgress: (p) => progress.push(p),
  });
  assert.equal(r.steps, 8); // 2 epochs × ceil(30 / 8)
  assert.deepEqual(
    progress.map((p) => [p.epoch, p.step, p.steps]),
    [0, 0, 0, 0, 1, 1, 1, 1].map((e, i) => [e, i + 1, 8]),
  );
  assert.ok(progress.every((p) => Number.isFinite(p.loss)));
  assert.ok(
    timerFired >= 1 && timerFired < 8,
    `a timer ran mid-training (after ${timerFired} steps)`,
  );

  const controller = new AbortController();
  const before = tf.memory().numTensors;
  await assert.rejects(
    trainLocal({
      model,
      spec,
      data,
      config,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.step === 2) controller.abort(new Error('deadline'));
      },
    }),
    /deadline/,
  );
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('bad configs and data are refused before training', async () => {
  const spec = mlpSpec(4, [], 3);
  const model = buildModel(spec, 1);
  const data = { x: new Float32Array(8), y: new Uint8Array([0, 2]), count: 2 };
  const run = (over: Partial<Parameters<typeof trainLocal>[0]>) =>
    trainLocal({ model, spec, data, config: base, ...over });
  await assert.rejects(run({ config: { ...base, alpha: 1.5 } }), DistillationInputError);
  await assert.rejects(run({ config: { ...base, batchSize: 0 } }), DistillationInputError);
  await assert.rejects(run({ config: { ...base, temperature: 0 } }), /temperature/);
  await assert.rejects(run({ data: { ...data, y: new Uint8Array([0, 3]) } }), DatasetError);
  await assert.rejects(run({ data: { ...data, x: new Float32Array(7) } }), DatasetError);
  await assert.rejects(
    run({ data: { x: new Float32Array(0), y: new Uint8Array(0), count: 0 } }),
    DatasetError,
  );
  const proxy = { x: new Float32Array(4), softLabels: new Float32Array([0.5, 0.5, 0.5]), count: 1 };
  await assert.rejects(run({ proxy, config: { ...base, alpha: 0.5 } }), /sum to 1.5/);
  model.dispose();
});
