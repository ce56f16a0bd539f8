import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { rkdAngleLoss } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput } from './helpers.js';
import { rkdAngleReference, seededMatrix } from './relationReference.js';

await tf.setBackend('cpu');

function loss(s: number[][], t: number[][]): number {
  const st = tf.tensor2d(s);
  const tt = tf.tensor2d(t);
  const v = noLeak(() => rkdAngleLoss(st, tt));
  tf.dispose([st, tt]);
  return v;
}

test('rkdAngleLoss matches a hand computation on two triangles', () => {
  // Student right isoceles (0,0), (1,0), (0,1): angle at 0 is 90° (cos 0), at 1 and 2 45° (cos 0.707107).
  // Teacher equilateral: every angle 60° (cos 0.5).
  // For each anchor a, the 3×3 (b, c) block holds 0 where b = a or c = a, 1 where b = c ≠ a,
  // and cos θ_a twice (b ≠ c). Only the cos entries differ:
  //   anchor 0: (0 − 0.5) twice → ½·0.25·2 = 0.25
  //   anchors 1, 2: (0.707107 − 0.5) four times → ½·0.042893·4 = 0.085786
  // mean over 27 triplets: 0.335786 / 27 = 0.0124365
  const v = loss(
    [
      [0, 0],
      [1, 0],
      [0, 1],
    ],
    [
      [0, 0],
      [1, 0],
      [0.5, Math.sqrt(3) / 2],
    ],
  );
  assertClose(v, 0.0124365, 2e-7);
});

test('rkdAngleLoss is 0 for a similar (scaled, shifted) copy and matches a float64 reference', () => {
  const t = seededMatrix(5, 3, 21);
  assertClose(
    loss(
      t.map((r) => r.map((v) => 3 * v + 1)),
      t,
    ),
    0,
    1e-5,
  );
  for (const seed of [4, 5]) {
    const s = seededMatrix(6, 4, seed);
    const te = seededMatrix(6, 2, seed + 50);
    assertClose(loss(s, te), rkdAngleReference(s, te), 1e-4, `seed ${seed}`);
  }
});

test('rkdAngleLoss gradient matches finite differences', () => {
  const teacher = tf.tensor2d(seededMatrix(4, 3, 8));
  gradCheck((x) => rkdAngleLoss(x, teacher), seededMatrix(4, 2, 9));
  teacher.dispose();
});

test('rkdAngleLoss rejects batch mismatch and batches under 3', () => {
  const a = tf.zeros([3, 2]) as tf.Tensor2D;
  const b = tf.zeros([2, 2]) as tf.Tensor2D;
  throwsInput(() => rkdAngleLoss(a, b), /batch mismatch/, /\[3,2\]/, /\[2,2\]/);
  throwsInput(() => rkdAngleLoss(b, b), /\[2,2\]/, /at least 3/);
  tf.dispose([a, b]);
});
