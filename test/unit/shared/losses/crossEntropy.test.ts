import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { crossEntropyWithLogits } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput, valueOf } from './helpers.js';

await tf.setBackend('cpu');

test('crossEntropyWithLogits matches a hand computation on 2x3 logits', () => {
  // Row 0: logits [1,2,3], label 2: logsumexp = 3 + ln(e^-2 + e^-1 + 1)
  //        = 3 + ln(0.135335 + 0.367879 + 1) = 3 + ln(1.503214) = 3.407606; CE = 3.407606 − 3 = 0.407606
  // Row 1: logits [1,1,1], label 0: CE = ln 3 = 1.098612
  // Mean: (0.407606 + 1.098612) / 2 = 0.753109
  const logits = tf.tensor2d([
    [1, 2, 3],
    [1, 1, 1],
  ]);
  const labels = tf.tensor1d([2, 0], 'int32');
  assertClose(
    noLeak(() => crossEntropyWithLogits(logits, labels)),
    0.753109,
  );
  const oneHot = tf.tensor2d([
    [0, 0, 1],
    [1, 0, 0],
  ]);
  assertClose(
    noLeak(() => crossEntropyWithLogits(logits, oneHot)),
    0.753109,
  );
  tf.dispose([logits, labels, oneHot]);
});

test('crossEntropyWithLogits is stable for huge logits', () => {
  // Row [1000, 0, -1000], label 0: CE = ln(1 + e^-1000 + e^-2000) ≈ 0; label 1: ≈ 1000.
  const logits = tf.tensor2d([
    [1000, 0, -1000],
    [1000, 0, -1000],
  ]);
  const labels = tf.tensor1d([0, 1], 'int32');
  const v = valueOf(crossEntropyWithLogits(logits, labels));
  assertClose(v, 500, 1e-5);
  tf.dispose([logits, labels]);
});

test('crossEntropyWithLogits gradient matches finite differences', () => {
  const labels = tf.tensor1d([2, 0], 'int32');
  // d CE / d s = (softmax(s) − y) / B
  const g = gradCheck(
    (x) => crossEntropyWithLogits(x, labels),
    [
      [1, 2, 3],
      [0.5, -1, 0.2],
    ],
  );
  const p0 = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const z = p0[0]! + p0[1]! + p0[2]!;
  assertClose(g[2]!, (p0[2]! / z - 1) / 2, 1e-5);
  labels.dispose();
});

test('crossEntropyWithLogits rejects bad shapes and label values with the offending value', () => {
  const logits = tf.tensor2d([
    [1, 2, 3],
    [1, 1, 1],
  ]);
  const bad = [
    tf.tensor1d([0, 1, 2], 'int32'),
    tf.tensor1d([0, 3], 'int32'),
    tf.tensor1d([-1, 0], 'int32'),
    tf.tensor1d([0.5, 0]),
    tf.tensor2d([[1, 0, 0, 0]]),
    tf.tensor3d([[[1]]]),
  ];
  throwsInput(() => crossEntropyWithLogits(logits, bad[0] as tf.Tensor1D), /\[3\]/, /\[2\]/);
  throwsInput(() => crossEntropyWithLogits(logits, bad[1] as tf.Tensor1D), /labels\[1\] = 3/);
  throwsInput(() => crossEntropyWithLogits(logits, bad[2] as tf.Tensor1D), /labels\[0\] = -1/);
  throwsInput(() => crossEntropyWithLogits(logits, bad[3] as tf.Tensor1D), /labels\[0\] = 0\.5/);
  throwsInput(() => crossEntropyWithLogits(logits, bad[4] as tf.Tensor2D), /\[1,4\]/);
  throwsInput(() => crossEntropyWithLogits(logits, bad[5] as unknown as tf.Tensor2D), /rank 3/);
  throwsInput(
    () =>
      crossEntropyWithLogits(tf.tensor1d([1, 2]) as unknown as tf.Tensor2D, bad[1] as tf.Tensor1D),
    /rank 1/,
  );
  // With checkValues off, out-of-range indices are not read back (caller's promise).
  const before = tf.memory().numTensors;
  valueOf(crossEntropyWithLogits(logits, bad[3] as tf.Tensor1D, { checkValues: false }));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([logits, ...bad]);
});
