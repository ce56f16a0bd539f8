import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createHintRegressor, hintLoss } from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput } from './helpers.js';

await tf.setBackend('cpu');

test('hintLoss matches a hand computation through a fixed regressor', () => {
  // kernel [[1,0,1],[0,1,1]], bias [0,0,0.5]
  // student [[1,2],[0,1]] → mapped [[1,2,3.5],[0,1,1.5]]
  // teacher [[1,1,3],[0,0,2]] → diff [[0,1,0.5],[0,1,−0.5]]
  // MSE = (0 + 1 + 0.25 + 0 + 1 + 0.25) / 6 = 2.5 / 6 = 0.416667
  const r = createHintRegressor(2, 3, 1);
  r.kernel.assign(
    tf.tensor2d([
      [1, 0, 1],
      [0, 1, 1],
    ]),
  );
  r.bias.assign(tf.tensor1d([0, 0, 0.5]));
  const before = tf.memory().numTensors;
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
  tf.dispose([sf, tfeat]);
  assert.equal(tf.memory().numTensors, before);
  r.dispose();
});

test('createHintRegressor is seeded, Glorot-bounded, zero-bias, and disposes its variables', () => {
  const before = tf.memory().numTensors;
  const a = createHintRegressor(4, 6, 7);
  const b = createHintRegressor(4, 6, 7);
  const c = createHintRegressor(4, 6, 8);
  assert.deepEqual(a.kernel.shape, [4, 6]);
  assert.deepEqual(a.bias.shape, [6]);
  assert.ok(a.kernel.trainable && a.bias.trainable);
  const ka = a.kernel.dataSync();
  assert.deepEqual(ka, b.kernel.dataSync());
  assert.notDeepEqual(ka, c.kernel.dataSync());
  const limit = Math.sqrt(6 / (4 + 6));
  assert.ok(ka.every((v) => Math.abs(v) <= limit));
  assert.ok(a.bias.dataSync().every((v) => v === 0));
  for (const r of [a, b, c]) r.dispose();
  assert.equal(tf.memory().numTensors, before);
  throwsInput(() => createHintRegressor(0, 3), /studentWidth must be a positive integer, got 0/);
  throwsInput(
    () => createHintRegressor(2, 1.5),
    /teacherWidth must be a positive integer, got 1.5/,
  );
});

test('hintLoss gradient matches finite differences (student features and regressor)', () => {
  const r = createHintRegressor(3, 2, 3);
  const teacher = tf.tensor2d([
    [0.5, -1],
    [2, 0.3],
  ]);
  gradCheck(
    (x) => hintLoss({ studentFeatures: x, teacherFeatures: teacher, regressor: r }),
    [
      [1, -0.5, 0.2],
      [0.3, 0.8, -1.1],
    ],
  );
  // The regressor trains too: its variables receive finite, non-zero gradients.
  const sf = tf.tensor2d([
    [1, -0.5, 0.2],
    [0.3, 0.8, -1.1],
  ]);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(
    () => hintLoss({ studentFeatures: sf, teacherFeatures: teacher, regressor: r }),
    [r.kernel, r.bias],
  );
  const kernelGrad = grads[r.kernel.name];
  assert.ok(kernelGrad !== undefined && kernelGrad.dataSync().every(Number.isFinite));
  assert.ok(grads[r.bias.name]!.dataSync().some((v) => v !== 0));
  value.dispose();
  tf.dispose(Object.values(grads));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([sf, teacher]);
  r.dispose();
});

test('hintLoss rejects mismatched batch and widths, naming the shapes', () => {
  const r = createHintRegressor(3, 2);
  const s = tf.zeros([2, 3]) as tf.Tensor2D;
  const t = tf.zeros([2, 2]) as tf.Tensor2D;
  const t3 = tf.zeros([3, 2]) as tf.Tensor2D;
  const s4 = tf.zeros([2, 4]) as tf.Tensor2D;
  const t5 = tf.zeros([2, 5]) as tf.Tensor2D;
  throwsInput(
    () => hintLoss({ studentFeatures: s, teacherFeatures: t3, regressor: r }),
    /batch mismatch/,
    /\[2,3\]/,
    /\[3,2\]/,
  );
  throwsInput(
    () => hintLoss({ studentFeatures: s4, teacherFeatures: t, regressor: r }),
    /kernel shape \[3,2\]/,
    /expected \[4,2\]/,
  );
  throwsInput(
    () => hintLoss({ studentFeatures: s, teacherFeatures: t5, regressor: r }),
    /expected \[3,5\]/,
  );
  tf.dispose([s, t, t3, s4, t5]);
  r.dispose();
});

test('hintLoss without a regressor compares equal widths directly and refuses different ones', () => {
  // student [[1,2],[0,1]], teacher [[0,2],[1,1]]: squared differences [[1,0],[1,0]] → mean 0.5.
  const sf = tf.tensor2d([
    [1, 2],
    [0, 1],
  ]);
  const same = tf.tensor2d([
    [0, 2],
    [1, 1],
  ]);
  const wider = tf.tensor2d([[1, 2, 3]]);
  assertClose(
    noLeak(() => hintLoss({ studentFeatures: sf, teacherFeatures: same })),
    0.5,
  );
  gradCheck(
    (x) => hintLoss({ studentFeatures: x, teacherFeatures: same }),
    [
      [0.3, -1],
      [2, 0.5],
    ],
  );
  throwsInput(
    () => hintLoss({ studentFeatures: sf.slice([0, 0], [1, 2]), teacherFeatures: wider }),
    /studentFeatures \[1,2\] and teacherFeatures \[1,3\] differ in width and no regressor maps them/,
  );
  tf.dispose([sf, same, wider]);
});
