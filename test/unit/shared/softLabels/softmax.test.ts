import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../../../../shared/errors.js';
import { softmaxWithTemperature } from '../../../../shared/softLabels/index.js';

await tf.setBackend('cpu');

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs((actual[i] as number) - (expected[i] as number)) <= tol,
      `[${i}] ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test('softmaxWithTemperature: hand-computed values at T = 1 and T = 2', () => {
  // Row 1, T = 1: exp(0), exp(ln 2), exp(ln 3) = 1, 2, 3 → [1/6, 2/6, 3/6].
  // Row 2, T = 2: logits/2 = 0, ln 2, ln 3 → the same [1/6, 2/6, 3/6].
  const before = tf.memory().numTensors;
  const a = tf.tensor2d([[0, Math.log(2), Math.log(3)]]);
  const b = tf.tensor2d([[0, 2 * Math.log(2), 2 * Math.log(3)]]);
  const pa = softmaxWithTemperature(a, 1);
  const pb = softmaxWithTemperature(b, 2);
  close(pa.dataSync(), [1 / 6, 2 / 6, 3 / 6]);
  close(pb.dataSync(), [1 / 6, 2 / 6, 3 / 6]);
  assert.deepEqual(pb.shape, [1, 3]);
  tf.dispose([a, b, pa, pb]);
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
});

test('softmaxWithTemperature: higher T flattens, huge logits stay finite', () => {
  // [ln 4, 0] at T = 1 → [4/5, 1/5]; at T = 2 → exp(ln 2), 1 → [2/3, 1/3].
  const x = tf.tensor2d([
    [Math.log(4), 0],
    [1000, 0],
  ]);
  const p1 = softmaxWithTemperature(x, 1);
  const p2 = softmaxWithTemperature(x, 2);
  close(p1.dataSync(), [0.8, 0.2, 1, 0]);
  close(p2.dataSync().slice(0, 2), [2 / 3, 1 / 3]);
  assert.ok([...p2.dataSync()].every(Number.isFinite));
  tf.dispose([x, p1, p2]);
});

test('softmaxWithTemperature: rejects bad temperatures and shapes without leaking', () => {
  const x = tf.tensor2d([[1, 2]]);
  const before = tf.memory().numTensors;
  for (const t of [0, -1, NaN, Infinity]) {
    assert.throws(() => softmaxWithTemperature(x, t), DistillationInputError);
  }
  const v = tf.tensor1d([1, 2]);
  assert.throws(
    () => softmaxWithTemperature(v as unknown as tf.Tensor2D, 1),
    (e: unknown) => e instanceof DistillationInputError && /\[2\]/.test(e.message),
  );
  assert.equal(tf.memory().numTensors, before + 1);
  tf.dispose([x, v]);
});
