import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  crossEntropyWithLogits,
  distillationLoss,
  softTargetKl,
} from '../../../../shared/losses/index.js';
import { assertClose, gradCheck, noLeak, throwsInput, valueOf } from './helpers.js';

await tf.setBackend('cpu');

// Shared tiny batch: B = 2, C = 3.
const studentValues = [
  [2, 0, 0],
  [0, 0, 0],
];
const teacherProbValues = [
  [0.5, 0.5, 0], // top-2 sparse row
  [0.2, 0.3, 0.5],
];

test('distillationLoss matches a hand computation (α = 0.25, T = 2, sparse teacher row)', () => {
  // Hard term (T = 1):
  //   row 0: s = [2,0,0], y = 0: CE = ln(e² + 2) − 2 = ln 9.389056 − 2 = 0.239545
  //   row 1: s = [0,0,0], y = 2: CE = ln 3 = 1.098612
  //   mean CE = 0.669079
  // Soft term (T = 2):
  //   row 0: s/T = [1,0,0] → q = [e, 1, 1]/(e + 2) = [0.576117, 0.211942, 0.211942]
  //          KL = 0.5·ln(0.5/0.576117) + 0.5·ln(0.5/0.211942) + 0 = 0.358298
  //   row 1: q = 1/3 each: KL = 0.2·ln 0.6 + 0.3·ln 0.9 + 0.5·ln 1.5 = 0.068959
  //   mean KL = 0.213628
  // L = 0.25·0.669079 + 0.75·(2²·0.213628) = 0.167270 + 0.640885 = 0.808155
  const s = tf.tensor2d(studentValues);
  const p = tf.tensor2d(teacherProbValues);
  const labels = tf.tensor1d([0, 2], 'int32');
  const v = noLeak(() =>
    distillationLoss({ studentLogits: s, labels, teacherProbs: p, temperature: 2, alpha: 0.25 }),
  );
  assertClose(v, 0.808155);
  tf.dispose([s, p, labels]);
});

test('no labels → T²·KL alone, not weighted by α; no teacher → CE alone', () => {
  const s = tf.tensor2d(studentValues);
  const p = tf.tensor2d(teacherProbValues);
  const labels = tf.tensor1d([0, 2], 'int32');
  const softOnly = noLeak(() =>
    distillationLoss({ studentLogits: s, teacherProbs: p, temperature: 2, alpha: 0.9 }),
  );
  assertClose(softOnly, 4 * 0.213628); // 0.854514, α ignored
  const hardOnly = noLeak(() =>
    distillationLoss({ studentLogits: s, labels, temperature: 2, alpha: 0.1 }),
  );
  assertClose(hardOnly, 0.669079); // α and T ignored
  assertClose(hardOnly, valueOf(crossEntropyWithLogits(s, labels)));
  assertClose(softOnly, 4 * valueOf(softTargetKl(p, s, 2)));
  tf.dispose([s, p, labels]);
});

test('class-index labels and one-hot labels give the same loss', () => {
  const s = tf.tensor2d([
    [0.3, -1.2, 2.0, 0.1],
    [1.5, 0.2, -0.7, 0.0],
    [-0.4, 0.9, 0.3, 2.2],
  ]);
  const t = tf.tensor2d([
    [1, 0, 3, -1],
    [2, 1, 0, 0],
    [0, 0, 1, 4],
  ]);
  const idx = tf.tensor1d([2, 0, 3], 'int32');
  const oneHot = tf.oneHot(idx, 4, 1, 0, 'float32') as tf.Tensor2D;
  const common = { studentLogits: s, teacherLogits: t, temperature: 3, alpha: 0.4 };
  const a = noLeak(() => distillationLoss({ ...common, labels: idx }));
  const b = noLeak(() => distillationLoss({ ...common, labels: oneHot }));
  assertClose(a, b, 1e-6);
  tf.dispose([s, t, idx, oneHot]);
});

test('teacherLogits and teacherProbs = softmax(teacherLogits / T) give the same loss', () => {
  const s = tf.tensor2d([
    [0.3, -1.2, 2.0],
    [1.5, 0.2, -0.7],
  ]);
  const t = tf.tensor2d([
    [4, 1, -2],
    [0, 5, 1],
  ]);
  const labels = tf.tensor1d([2, 1], 'int32');
  for (const temperature of [1, 2.5, 8]) {
    const probs = tf.tidy(() => tf.softmax(tf.div(t, temperature))) as tf.Tensor2D;
    const common = { studentLogits: s, labels, temperature, alpha: 0.3 };
    const a = noLeak(() => distillationLoss({ ...common, teacherLogits: t }));
    const b = noLeak(() => distillationLoss({ ...common, teacherProbs: probs }));
    assertClose(a, b, 1e-5, `T=${temperature}`);
    probs.dispose();
  }
  tf.dispose([s, t, labels]);
});

test('scaleByTemperatureSquared scales the soft term by exactly T²', () => {
  const s = tf.tensor2d([
    [0.3, -1.2, 2.0],
    [1.5, 0.2, -0.7],
  ]);
  const t = tf.tensor2d([
    [4, 1, -2],
    [0, 5, 1],
  ]);
  const labels = tf.tensor1d([2, 1], 'int32');
  for (const temperature of [0.5, 2, 4]) {
    const base = { studentLogits: s, teacherLogits: t, temperature, alpha: 0 };
    const scaled = noLeak(() => distillationLoss(base));
    const plain = noLeak(() => distillationLoss({ ...base, scaleByTemperatureSquared: false }));
    assertClose(scaled, temperature * temperature * plain, 1e-6, `T=${temperature}`);
    // With both terms: L = α·CE + (1−α)·T²·KL versus α·CE + (1−α)·KL.
    const ce = valueOf(crossEntropyWithLogits(s, labels));
    const both = { ...base, labels, alpha: 0.25 };
    assertClose(
      noLeak(() => distillationLoss(both)),
      0.25 * ce + 0.75 * temperature * temperature * plain,
      1e-5,
    );
    assertClose(
      noLeak(() => distillationLoss({ ...both, scaleByTemperatureSquared: false })),
      0.25 * ce + 0.75 * plain,
      1e-5,
    );
  }
  tf.dispose([s, t, labels]);
});

test('the soft term is 0 when student and teacher logits are equal', () => {
  const s = tf.tensor2d([
    [0.3, -1.2, 2.0],
    [10, -10, 0],
  ]);
  for (const temperature of [1, 4]) {
    assertClose(
      noLeak(() => distillationLoss({ studentLogits: s, teacherLogits: s, temperature, alpha: 0 })),
      0,
      1e-6,
    );
  }
  s.dispose();
});

test('sparse top-k teacher probabilities give a finite loss and finite gradient', () => {
  const p = tf.tensor2d([
    [0.7, 0.3, 0, 0],
    [1, 0, 0, 0],
    [0, 0, 0.5, 0.5],
  ]);
  const labels = tf.tensor1d([0, 0, 3], 'int32');
  const values = [
    [5, -3, 20, 0],
    [-30, 1, 0, 2],
    [0, 0, 0, 0],
  ];
  const loss = (x: tf.Tensor2D): tf.Scalar =>
    distillationLoss({ studentLogits: x, labels, teacherProbs: p, temperature: 2, alpha: 0.5 });
  const x = tf.tensor2d(values);
  const v = noLeak(() => loss(x));
  assert.ok(Number.isFinite(v) && v > 0, `loss ${v}`);
  x.dispose();
  const g = gradCheck(loss, values, 1e-2, 2e-2);
  assert.ok(g.every(Number.isFinite));
  tf.dispose([p, labels]);
});

test('distillationLoss gradient matches finite differences (teacher logits + labels)', () => {
  const t = tf.tensor2d([
    [4, 1, -2],
    [0, 5, 1],
  ]);
  const labels = tf.tensor1d([2, 1], 'int32');
  gradCheck(
    (x) =>
      distillationLoss({ studentLogits: x, labels, teacherLogits: t, temperature: 3, alpha: 0.3 }),
    [
      [0.3, -1.2, 2.0],
      [1.5, 0.2, -0.7],
    ],
  );
  tf.dispose([t, labels]);
});

test('huge logits stay finite (stable log-softmax)', () => {
  const s = tf.tensor2d([[1e4, 0, -1e4]]);
  const t = tf.tensor2d([[-1e4, 0, 1e4]]);
  const labels = tf.tensor1d([2], 'int32');
  const v = noLeak(() =>
    distillationLoss({ studentLogits: s, labels, teacherLogits: t, temperature: 1, alpha: 0.5 }),
  );
  // CE = 2e4; KL ≈ 2e4 (teacher all on class 2, student log q_2 = −2e4): 0.5·2e4 + 0.5·2e4
  assertClose(v, 2e4, 1e-4);
  tf.dispose([s, t, labels]);
});

test('distillationLoss rejects bad input up front, naming the shapes and values', () => {
  const start = tf.memory().numTensors;
  const s = tf.tensor2d(studentValues);
  const p = tf.tensor2d(teacherProbValues);
  const labels = tf.tensor1d([0, 2], 'int32');
  const ok = { studentLogits: s, labels, teacherProbs: p, temperature: 2, alpha: 0.5 };
  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(x: T): T => {
    owned.push(x);
    return x;
  };

  throwsInput(
    () => distillationLoss({ studentLogits: s, temperature: 2, alpha: 0.5 }),
    /needs labels, a teacher/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, teacherLogits: s }),
    /teacherLogits or teacherProbs, not both/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, studentLogits: keep(tf.tensor1d([1, 2, 3])) as never }),
    /studentLogits must be rank 2/,
    /\[3\]/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, studentLogits: keep(tf.zeros([0, 3])) as tf.Tensor2D }),
    /non-empty/,
    /\[0,3\]/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, teacherProbs: keep(tf.tensor2d([[0.5, 0.5, 0]])) }),
    /teacherProbs shape \[1,3\] does not match studentLogits shape \[2,3\]/,
  );
  throwsInput(
    () =>
      distillationLoss({
        ...ok,
        teacherProbs: undefined,
        teacherLogits: keep(tf.zeros([2, 4])) as tf.Tensor2D,
      }),
    /teacherLogits shape \[2,4\].*\[2,3\]/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, labels: keep(tf.tensor1d([0, 1, 2], 'int32')) }),
    /labels shape \[3\]/,
    /expected \[2\]/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, labels: keep(tf.zeros([2, 4])) as tf.Tensor2D }),
    /labels shape \[2,4\]/,
    /\[2,3\] \(one-hot\)/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, labels: keep(tf.tensor1d([0, 3], 'int32')) }),
    /labels\[1\] = 3 is not a class index in \[0, 3\)/,
  );
  throwsInput(
    () => distillationLoss({ ...ok, labels: keep(tf.tensor1d([-1, 0], 'int32')) }),
    /labels\[0\] = -1/,
  );
  for (const temperature of [0, -2, Number.NaN, Number.POSITIVE_INFINITY]) {
    throwsInput(
      () => distillationLoss({ ...ok, temperature }),
      new RegExp(`temperature must be a finite number > 0, got ${temperature}`),
    );
  }
  for (const alpha of [-0.1, 1.5, Number.NaN]) {
    throwsInput(
      () => distillationLoss({ ...ok, alpha }),
      new RegExp(`alpha must be in \\[0, 1\\], got ${alpha}`),
    );
  }
  throwsInput(
    () =>
      distillationLoss({
        ...ok,
        teacherProbs: keep(
          tf.tensor2d([
            [0.5, 0.6, -0.1],
            [0.2, 0.3, 0.5],
          ]),
        ),
      }),
    /teacherProbs\[0,2\] = -0\.1/,
  );
  throwsInput(
    () =>
      distillationLoss({
        ...ok,
        teacherProbs: keep(
          tf.tensor2d([
            [0.5, 0.5, 0],
            [0.2, 0.3, 0.4],
          ]),
        ),
      }),
    /row 1 sums to 0\.9/,
  );
  // A row sum within 1e-3 (float16 soft labels) is accepted.
  const nearly = keep(
    tf.tensor2d([
      [0.5, 0.5005, 0],
      [0.2, 0.3, 0.4995],
    ]),
  );
  assert.ok(Number.isFinite(valueOf(distillationLoss({ ...ok, teacherProbs: nearly }))));

  tf.dispose([s, p, labels, ...owned]);
  assert.equal(tf.memory().numTensors, start, 'rejected calls must not leak');
});
