import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { rkdDistanceLoss } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput } from './helpers.js';
import { rkdDistanceReference, seededMatrix } from './relationReference.js';

await tf.setBackend('cpu');

function loss(s: number[][], t: number[][]): number {
  const st = tf.tensor2d(s);
  const tt = tf.tensor2d(t);
  const v = noLeak(() => rkdDistanceLoss(st, tt));
  tf.dispose([st, tt]);
  return v;
}

test('rkdDistanceLoss matches a hand computation (quadratic regime)', () => {
  // Student 3-4-5 triangle: d01 = 3, d02 = 4, d12 = 5; μ = (3+4+5)·2/6 = 4 → ψ_s = [0.75, 1, 1.25]
  // Teacher right isoceles: d = 1, 1, √2; μ = (2 + 1.414214)/3 = 1.138071
  //   → ψ_t = [0.878680, 0.878680, 1.242641]
  // diffs −0.128680, 0.121320, 0.007359 → ½x² = 0.0082792, 0.0073593, 0.0000271
  // each pair appears twice in the 3×3 matrix (diagonal 0): 2·0.0156656 / 9 = 0.0034812
  const v = loss(
    [
      [0, 0],
      [3, 0],
      [0, 4],
    ],
    [
      [0, 0, 0],
      [1, 0, 0],
      [0, 1, 0],
    ],
  );
  assertClose(v, 0.0034812, 2e-7);
});

test('rkdDistanceLoss matches a hand computation (linear regime of smooth-L1)', () => {
  // Student on a line at 0, 1, 1.01: d = (1, 1.01, 0.01), μ = 2.02/3 → ψ_s = [1.485149, 1.5, 0.014851]
  // Teacher at 0, 0.01, 1:          d = (0.01, 1, 0.99), μ = 2/3    → ψ_t = [0.015, 1.5, 1.485]
  // diffs 1.470149, 0, −1.470149 → |x| − ½ = 0.970149, 0, 0.970149
  // 2·(2·0.970149)/9 = 0.431177
  // Tolerance 1e-5: the Gram-matrix form d² = |a|² + |b|² − 2a·b loses ~1e-7 absolute
  // in float32, i.e. ~1e-3 relative on the tiny d² = 1e-4 pairs here.
  const v = loss([[0], [1], [1.01]], [[0], [0.01], [1]]);
  assertClose(v, 0.431177, 1e-5);
});

test('rkdDistanceLoss is scale-invariant, 0 for a scaled copy, and matches a float64 reference', () => {
  const t = seededMatrix(6, 5, 11);
  assertClose(
    loss(
      t.map((r) => r.map((v) => v * 7)),
      t,
    ),
    0,
    1e-5,
  );
  for (const seed of [1, 2, 3]) {
    const s = seededMatrix(7, 4, seed);
    const te = seededMatrix(7, 9, seed + 100);
    assertClose(loss(s, te), rkdDistanceReference(s, te), 1e-4, `seed ${seed}`);
  }
});

test('rkdDistanceLoss gradient matches finite differences, finite for duplicate rows', () => {
  const teacher = tf.tensor2d(seededMatrix(4, 3, 5));
  gradCheck((x) => rkdDistanceLoss(x, teacher), seededMatrix(4, 2, 6));
  // Two identical student rows: distance 0 — gradient must stay finite (clamped sqrt).
  const dup = tf.tensor2d([
    [1, 1],
    [1, 1],
    [0, 2],
    [3, -1],
  ]);
  const g = tf.grad((x: tf.Tensor) => rkdDistanceLoss(x as tf.Tensor2D, teacher))(dup);
  const values = g.dataSync();
  if (!values.every(Number.isFinite)) throw new Error(`non-finite gradient ${values.join(',')}`);
  tf.dispose([g, dup, teacher]);
});

test('rkdDistanceLoss rejects rank, batch mismatch and single-sample batches', () => {
  const a = tf.zeros([3, 2]) as tf.Tensor2D;
  const b = tf.zeros([4, 2]) as tf.Tensor2D;
  const one = tf.zeros([1, 2]) as tf.Tensor2D;
  const r1 = tf.zeros([3]);
  throwsInput(() => rkdDistanceLoss(a, b), /batch mismatch/, /\[3,2\]/, /\[4,2\]/);
  throwsInput(() => rkdDistanceLoss(one, one), /\[1,2\]/, /at least 2/);
  throwsInput(() => rkdDistanceLoss(r1 as never, a), /rank 1/, /\[3\]/);
  tf.dispose([a, b, one, r1]);
});
