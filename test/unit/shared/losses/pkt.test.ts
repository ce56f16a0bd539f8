import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { pktLoss } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput } from './helpers.js';
import { pktReference, seededMatrix } from './relationReference.js';

await tf.setBackend('cpu');

function loss(s: number[][], t: number[][]): number {
  const st = tf.tensor2d(s);
  const tt = tf.tensor2d(t);
  const v = noLeak(() => pktLoss(st, tt));
  tf.dispose([st, tt]);
  return v;
}

test('pktLoss matches a hand computation', () => {
  // Student [[1,0],[0,1]]: cos = [[1,0],[0,1]] → K = (cos+1)/2 = [[1,.5],[.5,1]] → P_s = [[2/3,1/3],[1/3,2/3]]
  // Teacher [[1,0],[1,0]]: cos = 1 everywhere → K = 1 → P_t = 0.5 everywhere
  // entries: 0.5·ln(0.5/(2/3)) = −0.143841 (twice), 0.5·ln(0.5/(1/3)) = 0.202733 (twice)
  // mean over 4: 2·(−0.143841 + 0.202733)/4 = 0.029446
  const v = loss(
    [
      [1, 0],
      [0, 1],
    ],
    [
      [1, 0],
      [1, 0],
    ],
  );
  assertClose(v, 0.029446, 2e-6);
});

test('pktLoss is ~0 for a rescaled copy and matches a float64 reference', () => {
  const t = seededMatrix(5, 4, 31);
  assertClose(
    loss(
      t.map((r) => r.map((v) => v * 5)),
      t,
    ),
    0,
    1e-5,
  );
  for (const seed of [6, 7]) {
    const s = seededMatrix(6, 3, seed);
    const te = seededMatrix(6, 8, seed + 10);
    assertClose(loss(s, te), pktReference(s, te), 1e-4, `seed ${seed}`);
  }
});

test('pktLoss gradient matches finite differences and is finite for a zero row', () => {
  const teacher = tf.tensor2d(seededMatrix(4, 5, 12));
  const s = seededMatrix(4, 3, 13);
  const t = seededMatrix(4, 5, 12);
  const g = gradCheck((x) => pktLoss(x, teacher), s, 2e-3);
  // Tighter: against central differences of the float64 reference (h = 1e-6).
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 3; c++) {
      const plus = s.map((row) => row.slice());
      const minus = s.map((row) => row.slice());
      plus[r]![c]! += 1e-6;
      minus[r]![c]! -= 1e-6;
      const numeric = (pktReference(plus, t) - pktReference(minus, t)) / 2e-6;
      assertClose(g[r * 3 + c]!, numeric, 1e-4, `d/ds[${r},${c}]`);
    }
  }
  const withZero = tf.tensor2d([
    [0, 0, 0],
    [1, 2, 0],
    [0, 1, -1],
    [2, 0, 1],
  ]);
  const zeroGrad = tf.grad((x: tf.Tensor) => pktLoss(x as tf.Tensor2D, teacher))(withZero);
  const values = zeroGrad.dataSync();
  if (!values.every(Number.isFinite)) throw new Error(`non-finite gradient ${values.join(',')}`);
  tf.dispose([zeroGrad, withZero, teacher]);
});

test('pktLoss rejects batch mismatch and single-sample batches', () => {
  const a = tf.zeros([3, 2]) as tf.Tensor2D;
  const b = tf.zeros([2, 2]) as tf.Tensor2D;
  const one = tf.zeros([1, 2]) as tf.Tensor2D;
  throwsInput(() => pktLoss(a, b), /batch mismatch/, /\[3,2\]/, /\[2,2\]/);
  throwsInput(() => pktLoss(one, one), /\[1,2\]/, /at least 2/);
  tf.dispose([a, b, one]);
});
