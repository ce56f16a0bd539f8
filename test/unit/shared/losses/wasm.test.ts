// The same losses on the wasm backend, which clients use in Node and browsers.
// Guards against backend-specific kernels (e.g. wasm's OneHot ignoring a
// float32 dtype, which once silently zeroed the cross-entropy term).
import '@tensorflow/tfjs-backend-wasm';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  createHintRegressor,
  distillationLoss,
  hintLoss,
  pktLoss,
  rkdAngleLoss,
  rkdDistanceLoss,
  selfDistillationLoss,
} from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak } from './helpers.js';

await tf.setBackend('wasm');

test('wasm: distillationLoss matches the hand computation and its gradient', () => {
  // Same numbers as distillation.test.ts: 0.25·0.669079 + 0.75·4·0.213628 = 0.808155
  const s = tf.tensor2d([
    [2, 0, 0],
    [0, 0, 0],
  ]);
  const p = tf.tensor2d([
    [0.5, 0.5, 0],
    [0.2, 0.3, 0.5],
  ]);
  const labels = tf.tensor1d([0, 2], 'int32');
  const loss = (x: tf.Tensor2D): tf.Scalar =>
    distillationLoss({ studentLogits: x, labels, teacherProbs: p, temperature: 2, alpha: 0.25 });
  assertClose(
    noLeak(() => loss(s)),
    0.808155,
  );
  // d/ds = α(softmax(s) − y)/B + (1−α)·T·(softmax(s/T) − p)/B; row 1, class 2:
  // 0.25·(1/3 − 1)/2 + 0.75·2·(1/3 − 0.5)/2 = −0.083333 − 0.125 = −0.208333
  const g = gradCheck(loss, [
    [2, 0, 0],
    [0, 0, 0],
  ]);
  assertClose(g[5]!, -0.208333, 1e-5);
  tf.dispose([s, p, labels]);
});

test('wasm: relation, hint and self-distillation losses match their hand computations', () => {
  const tri = tf.tensor2d([
    [0, 0],
    [1, 0],
    [0, 1],
  ]);
  const equi = tf.tensor2d([
    [0, 0],
    [1, 0],
    [0.5, Math.sqrt(3) / 2],
  ]);
  assertClose(
    noLeak(() => rkdAngleLoss(tri, equi)),
    0.0124365,
    2e-7,
  );
  const s345 = tf.tensor2d([
    [0, 0],
    [3, 0],
    [0, 4],
  ]);
  assertClose(
    noLeak(() => rkdDistanceLoss(s345, tri)),
    0.0034812,
    2e-7,
  );
  const pS = tf.tensor2d([
    [1, 0],
    [0, 1],
  ]);
  const pT = tf.tensor2d([
    [1, 0],
    [1, 0],
  ]);
  assertClose(
    noLeak(() => pktLoss(pS, pT)),
    0.029446,
    2e-6,
  );
  const zeros = tf.zeros([1, 3]) as tf.Tensor2D;
  const snap = tf.tensor2d([[2 * Math.LN2, 0, 0]]);
  assertClose(
    noLeak(() =>
      selfDistillationLoss({ studentLogits: zeros, snapshotLogits: snap, temperature: 2 }),
    ),
    0.235568,
  );
  const r = createHintRegressor(2, 3);
  r.kernel.assign(
    tf.tensor2d([
      [1, 0, 1],
      [0, 1, 1],
    ]),
  );
  r.bias.assign(tf.tensor1d([0, 0, 0.5]));
  const sf = tf.tensor2d([
    [1, 2],
    [0, 1],
  ]);
  const tfeat = tf.tensor2d([
    [1, 1, 3],
    [0, 0, 2],
  ]);
  assertClose(
    noLeak(() => hintLoss({ studentFeatures: sf, teacherFeatures: tfeat, regressor: r })),
    2.5 / 6,
  );
  gradCheck(
    (x) => rkdAngleLoss(x, equi),
    [
      [0, 0.1],
      [1, -0.2],
      [0.3, 1],
    ],
  );
  r.dispose();
  tf.dispose([tri, equi, s345, pS, pT, zeros, snap, sf, tfeat]);
});
