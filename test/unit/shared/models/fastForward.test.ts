import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ModelSpecError } from '../../../../shared/errors.js';
import {
  buildModel,
  cnnSpec,
  conv2dFast,
  createFastForward,
  denseMatMul,
  mlpSpec,
  trainableVariables,
} from '../../../../shared/models/index.js';
import type { ConvPadding, ModelSpec } from '../../../../shared/models/index.js';

await tf.setBackend('cpu');

/** Deterministic pseudo-random floats in [-1, 1) (LCG) so tests need no rng module. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Runs `f` in a tidy and reads its tensors back. (Reading happens outside the
 * tidy: tidy walks its return value, so a large typed array must not be it.)
 */
function readAll(f: () => tf.Tensor[]): Float32Array[] {
  const tensors = tf.tidy(f);
  const out = tensors.map((t) => t.dataSync() as Float32Array);
  tf.dispose(tensors);
  return out;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-6;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  }
  return diff / scale;
}

const specs: Record<string, ModelSpec> = {
  mlp: mlpSpec(12, [7, 5], 3),
  cnnValid: cnnSpec({ inputShape: [12, 12, 2], filters: [3, 4], hidden: [6], numClasses: 4 }),
  cnnSame: {
    inputShape: [8, 8, 1],
    layers: [
      { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' },
      { type: 'conv2d', filters: 2, kernelSize: 2, padding: 'same', activation: 'sigmoid' },
      { type: 'maxPool2d', poolSize: 2 },
      { type: 'conv2d', filters: 2, kernelSize: 4, padding: 'same', activation: 'relu' },
      { type: 'dense', units: 5, activation: 'relu' },
      { type: 'dropout', rate: 0.5 },
    ],
    numClasses: 3,
  },
};

function batch(spec: ModelSpec, b: number, seed: number): tf.Tensor {
  const size = spec.inputShape.reduce((x, y) => x * y, 1);
  return tf.tensor(values(b * size, seed), [b, ...spec.inputShape]);
}

test('fast forward logits equal model.predict; features are the penultimate activations', () => {
  for (const [name, spec] of Object.entries(specs)) {
    const model = buildModel(spec, 11);
    const forward = createFastForward(model, spec);
    const x = batch(spec, 5, 3);
    const before = tf.memory().numTensors;
    const [fast = [], stock = [], features = []] = readAll(() => {
      const out = forward(x, false);
      return [out.logits, model.predict(x) as tf.Tensor, tf.tensor(out.features.shape)];
    });
    assert.equal(tf.memory().numTensors, before, `${name}: no leaked tensors`);
    assert.ok(maxRelDiff(fast, stock) < 1e-5, `${name}: logits differ`);
    const last = model.layers[model.layers.length - 1];
    assert.deepEqual([...features], [5, last?.getWeights()[0]?.shape[0]], name);
    // Flat inputs are reshaped to the spec's input shape.
    const [flatOut] = readAll(() => [forward(x.reshape([5, -1]), false).logits]);
    assert.deepEqual(flatOut, fast);
    x.dispose();
    model.dispose();
  }
});

/** Weight gradients of sum(logits·R) + sum(features·S) with the fast or the stock forward. */
function weightGrads(
  model: tf.LayersModel,
  spec: ModelSpec,
  x: tf.Tensor,
  useFast: boolean,
): Float32Array[] {
  const forward = createFastForward(model, spec);
  const vars = trainableVariables(model);
  return readAll(() => {
    const { grads } = tf.variableGrads(() => {
      if (useFast) {
        const { logits, features } = forward(x, false);
        const r = tf.tensor(values(logits.size, 5), logits.shape);
        const s = tf.tensor(values(features.size, 6), features.shape);
        return tf.add(tf.sum(tf.mul(logits, r)), tf.sum(tf.mul(features, s))) as tf.Scalar;
      }
      const logits = model.apply(x, { training: false }) as tf.Tensor;
      const r = tf.tensor(values(logits.size, 5), logits.shape);
      // Features by the stock path: apply all layers but the last (no dropout at inference).
      let h = x;
      for (const layer of model.layers.slice(0, -1)) h = layer.apply(h) as tf.Tensor;
      const s = tf.tensor(values(h.size, 6), h.shape);
      return tf.add(tf.sum(tf.mul(logits, r)), tf.sum(tf.mul(h, s))) as tf.Scalar;
    }, vars);
    return vars.map((v) => {
      const g = grads[v.name];
      assert.ok(g, `gradient for ${v.name}`);
      return g;
    });
  });
}

test('fast gradients equal the stock tfjs gradients (cpu), without leaks', () => {
  for (const [name, spec] of Object.entries(specs)) {
    const model = buildModel(spec, 21);
    const x = batch(spec, 4, 9);
    const stock = weightGrads(model, spec, x, false);
    const before = tf.memory().numTensors;
    const fast = weightGrads(model, spec, x, true);
    assert.equal(tf.memory().numTensors, before, `${name}: leak`);
    fast.forEach((g, i) => {
      assert.ok(maxRelDiff(g, stock[i] ?? []) < 1e-4, `${name} weight ${i}`);
    });
    x.dispose();
    model.dispose();
  }
});

test('on wasm (no Conv2DBackpropFilter) the fast gradients still equal stock cpu ones', async () => {
  const spec = specs.cnnSame as ModelSpec;
  const model = buildModel(spec, 31);
  const xData = values(3 * 64, 4);
  const stock = weightGrads(model, spec, tf.tensor(xData, [3, 8, 8, 1]), false);
  await tf.setBackend('wasm');
  try {
    const x = tf.tensor(xData, [3, 8, 8, 1]);
    const fast = weightGrads(model, spec, x, true);
    fast.forEach((g, i) => assert.ok(maxRelDiff(g, stock[i] ?? []) < 1e-4, `weight ${i}`));
    x.dispose();
  } finally {
    model.dispose();
    await tf.setBackend('cpu');
  }
});

/** Central finite difference of f at each entry of `at` (float32: eps 1e-2 on linear maps). */
function numericGrad(f: (t: tf.Tensor) => number, at: Float32Array, shape: number[]): Float32Array {
  const eps = 1e-2;
  const out = new Float32Array(at.length);
  for (let i = 0; i < at.length; i++) {
    const plus = at.slice();
    const minus = at.slice();
    plus[i] = (plus[i] ?? 0) + eps;
    minus[i] = (minus[i] ?? 0) - eps;
    // f returns a number: a plain scalar is safe to return from tidy.
    const fp = tf.tidy(() => f(tf.tensor(plus, shape)));
    const fm = tf.tidy(() => f(tf.tensor(minus, shape)));
    out[i] = (fp - fm) / (2 * eps);
  }
  return out;
}

test('finite differences: tiny dense x·w, both dx and dw', () => {
  // f(x, w) = Σ (x·w) ⊙ R with x [2,3], w [3,2]; df/dw = xᵀR, df/dx = R wᵀ.
  const xv = values(6, 1);
  const wv = values(6, 2);
  const r = tf.tensor2d(values(4, 3), [2, 2]);
  const f = (x: tf.Tensor, w: tf.Tensor): tf.Scalar =>
    tf.sum(tf.mul(denseMatMul(x as tf.Tensor2D, w as tf.Tensor2D), r));
  const before = tf.memory().numTensors;
  const [dx, dw] = readAll(() => tf.grads(f)([tf.tensor2d(xv, [2, 3]), tf.tensor2d(wv, [3, 2])]));
  assert.equal(tf.memory().numTensors, before);
  const w0 = tf.tensor2d(wv, [3, 2]);
  const x0 = tf.tensor2d(xv, [2, 3]);
  const ndw = numericGrad((w) => f(x0, w).dataSync()[0] ?? 0, wv, [3, 2]);
  const ndx = numericGrad((x) => f(x, w0).dataSync()[0] ?? 0, xv, [2, 3]);
  assert.ok(maxRelDiff(dw ?? [], ndw) < 1e-2, `dw ${dw} vs ${ndw}`);
  assert.ok(maxRelDiff(dx ?? [], ndx) < 1e-2, `dx ${dx} vs ${ndx}`);
  tf.dispose([r, w0, x0]);
});

for (const padding of ['valid', 'same'] as ConvPadding[]) {
  test(`finite differences: tiny conv2d (${padding}), both dx and dw`, () => {
    // x [2,5,4,2], filter [3,2,2,3] (non-square kernel checks the 'same' pad split).
    const xShape = [2, 5, 4, 2];
    const wShape = [3, 2, 2, 3];
    const xv = values(80, 7);
    const wv = values(36, 8);
    const outShape = padding === 'same' ? [2, 5, 4, 3] : [2, 3, 3, 3];
    const r = tf.tensor(
      values(
        outShape.reduce((a, b) => a * b, 1),
        9,
      ),
      outShape,
    );
    const f = (x: tf.Tensor, w: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(conv2dFast(x as tf.Tensor4D, w as tf.Tensor4D, padding), r));
    const before = tf.memory().numTensors;
    const [dx, dw] = readAll(() => tf.grads(f)([tf.tensor(xv, xShape), tf.tensor(wv, wShape)]));
    assert.equal(tf.memory().numTensors, before);
    const x0 = tf.tensor(xv, xShape);
    const w0 = tf.tensor(wv, wShape);
    const ndw = numericGrad((w) => f(x0, w).dataSync()[0] ?? 0, wv, wShape);
    const ndx = numericGrad((x) => f(x, w0).dataSync()[0] ?? 0, xv, xShape);
    assert.ok(maxRelDiff(dw ?? [], ndw) < 1e-2, 'dw');
    assert.ok(maxRelDiff(dx ?? [], ndx) < 1e-2, 'dx');
    tf.dispose([r, x0, w0]);
  });
}

test('input gradients only when asked for; dropout only when training', () => {
  const spec = specs.cnnSame as ModelSpec;
  const model = buildModel(spec, 41);
  const x = batch(spec, 2, 12);
  const lossOf = (forward: ReturnType<typeof createFastForward>) => (input: tf.Tensor) =>
    tf.sum(forward(input, false).logits);
  assert.throws(() => tf.tidy(() => tf.grad(lossOf(createFastForward(model, spec)))(x)));
  const withDx = createFastForward(model, spec, { inputGradients: true });
  const [fastDx = [], stockDx = []] = readAll(() => [
    tf.grad(lossOf(withDx))(x),
    tf.grad((input: tf.Tensor) => tf.sum(model.apply(input) as tf.Tensor))(x),
  ]);
  assert.ok(maxRelDiff(fastDx, stockDx) < 1e-4);
  // With rate 0.5 dropout before the logits, training changes the logits but not the features.
  const forward = createFastForward(model, spec, { dropoutSeed: 3 });
  const [evalOut, trainOut, evalFeat, trainFeat] = readAll(() => {
    const a = forward(x, false);
    const b = forward(x, true);
    return [a.logits, b.logits, a.features, b.features];
  });
  assert.notDeepEqual(evalOut, trainOut);
  assert.deepEqual(evalFeat, trainFeat);
  x.dispose();
  model.dispose();
});

test('createFastForward refuses a spec that does not fit the model', () => {
  const model = buildModel(specs.mlp as ModelSpec, 1);
  assert.throws(() => createFastForward(model, mlpSpec(12, [7, 5], 4)), ModelSpecError);
  assert.throws(() => createFastForward(model, mlpSpec(13, [7, 5], 3)), ModelSpecError);
  model.dispose();
  const lstm = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'elu' })],
  });
  assert.throws(() => createFastForward(lstm, mlpSpec(3, [], 2)), /activation 'elu'/);
  lstm.dispose();
});
