import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { softTargetKl } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput } from './helpers.js';

await tf.setBackend('cpu');

test('softTargetKl matches a hand computation, including a zero (top-k) entry', () => {
  // Student logits all 0 → q = [1/3, 1/3, 1/3] at any T.
  // Row 0: p = [0.5, 0.5, 0]: 0.5·ln(0.5·3)·2 + 0·ln0 (= 0) = ln 1.5 = 0.405465
  // Row 1: p = [0.2, 0.3, 0.5]: 0.2·ln 0.6 + 0.3·ln 0.9 + 0.5·ln 1.5
  //        = −0.102165 − 0.031608 + 0.202733 = 0.068959
  // Mean: (0.405465 + 0.068959) / 2 = 0.237212
  const p = tf.tensor2d([
    [0.5, 0.5, 0],
    [0.2, 0.3, 0.5],
  ]);
  const s = tf.zeros([2, 3]) as tf.Tensor2D;
  assertClose(
    noLeak(() => softTargetKl(p, s, 1)),
    0.237212,
  );
  assertClose(
    noLeak(() => softTargetKl(p, s, 3.5)),
    0.237212,
  );
  tf.dispose([p, s]);
});

test('softTargetKl is 0 when the student reproduces the teacher', () => {
  const s = tf.tensor2d([
    [1, -2, 0.5],
    [3, 3, -1],
  ]);
  const p = tf.tidy(() => tf.softmax(tf.div(s, 2))) as tf.Tensor2D;
  assertClose(
    noLeak(() => softTargetKl(p, s, 2)),
    0,
    1e-6,
  );
  tf.dispose([p, s]);
});

test('softTargetKl gradient matches finite differences with sparse teacher rows', () => {
  const p = tf.tensor2d([
    [0.7, 0.3, 0, 0],
    [1, 0, 0, 0],
  ]);
  // d KL / d s = (softmax(s/T) − p) / (T·B)
  gradCheck(
    (x) => softTargetKl(p, x, 2),
    [
      [0.1, 0.4, -0.3, 1],
      [2, -1, 0, 0.5],
    ],
  );
  p.dispose();
});

test('softTargetKl rejects non-distributions, bad T and shape mismatch', () => {
  const start = tf.memory().numTensors;
  const s = tf.zeros([2, 3]) as tf.Tensor2D;
  const negative = tf.tensor2d([
    [1.2, -0.2, 0],
    [0.2, 0.3, 0.5],
  ]);
  const offSum = tf.tensor2d([
    [0.5, 0.3, 0.1],
    [0.2, 0.3, 0.5],
  ]);
  const wrongShape = tf.tensor2d([[0.5, 0.5]]);
  throwsInput(() => softTargetKl(negative, s, 1), /teacherProbs\[0,1\] = -0\.2/, /\[2,3\]/);
  throwsInput(() => softTargetKl(offSum, s, 1), /row 0 sums to 0\.9/);
  throwsInput(() => softTargetKl(wrongShape, s, 1), /\[1,2\]/, /\[2,3\]/);
  for (const t of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    throwsInput(() => softTargetKl(offSum, s, t), new RegExp(`temperature.*got ${t}`));
  }
  assert.equal(tf.memory().numTensors, start + 4, 'a rejected call must not leak');
  tf.dispose([s, negative, offSum, wrongShape]);
});
