import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { distillationLoss, selfDistillationLoss } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput } from './helpers.js';

await tf.setBackend('cpu');

test('selfDistillationLoss matches a hand computation with T² scaling', () => {
  // T = 2, snapshot [[2·ln 2, 0, 0]] → snapshot/T = [ln 2, 0, 0] → p = [2, 1, 1]/4 = [0.5, 0.25, 0.25]
  // student [[0,0,0]] → q = 1/3 each
  // KL = 0.5·ln(1.5) + 2·0.25·ln(0.75) = 0.202733 − 0.143841 = 0.058892; ×T² = 0.235568
  const s = tf.zeros([1, 3]) as tf.Tensor2D;
  const snap = tf.tensor2d([[2 * Math.LN2, 0, 0]]);
  assertClose(
    noLeak(() => selfDistillationLoss({ studentLogits: s, snapshotLogits: snap, temperature: 2 })),
    0.235568,
  );
  assertClose(
    noLeak(() =>
      selfDistillationLoss({
        studentLogits: s,
        snapshotLogits: snap,
        temperature: 2,
        scaleByTemperatureSquared: false,
      }),
    ),
    0.058892,
  );
  tf.dispose([s, snap]);
});

test('selfDistillationLoss equals distillationLoss with the snapshot as teacher, and 0 on itself', () => {
  const s = tf.tensor2d([
    [0.3, -1.2, 2.0],
    [1.5, 0.2, -0.7],
  ]);
  const snap = tf.tensor2d([
    [1, 0, 1],
    [0, 2, -1],
  ]);
  const a = noLeak(() =>
    selfDistillationLoss({ studentLogits: s, snapshotLogits: snap, temperature: 3 }),
  );
  const b = noLeak(() =>
    distillationLoss({ studentLogits: s, teacherLogits: snap, temperature: 3, alpha: 0.5 }),
  );
  assertClose(a, b, 1e-6);
  assertClose(
    noLeak(() => selfDistillationLoss({ studentLogits: s, snapshotLogits: s, temperature: 3 })),
    0,
    1e-6,
  );
  tf.dispose([s, snap]);
});

test('selfDistillationLoss gradient matches finite differences', () => {
  const snap = tf.tensor2d([
    [1, 0, 1],
    [0, 2, -1],
  ]);
  gradCheck(
    (x) => selfDistillationLoss({ studentLogits: x, snapshotLogits: snap, temperature: 2 }),
    [
      [0.3, -1.2, 2.0],
      [1.5, 0.2, -0.7],
    ],
  );
  snap.dispose();
});

test('selfDistillationLoss rejects shape mismatch and bad temperature', () => {
  const s = tf.zeros([2, 3]) as tf.Tensor2D;
  const snap = tf.zeros([2, 4]) as tf.Tensor2D;
  throwsInput(
    () => selfDistillationLoss({ studentLogits: s, snapshotLogits: snap, temperature: 1 }),
    /snapshotLogits shape \[2,4\] does not match studentLogits shape \[2,3\]/,
  );
  throwsInput(
    () => selfDistillationLoss({ studentLogits: s, snapshotLogits: s, temperature: 0 }),
    /temperature.*got 0/,
  );
  tf.dispose([s, snap]);
});
