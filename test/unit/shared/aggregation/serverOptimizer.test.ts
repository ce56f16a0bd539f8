import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AggregationError,
  ServerOptimizer,
  serverOptimizerSchema,
} from '../../../../shared/index.js';

const close = (a: ArrayLike<number>, b: number[], eps = 1e-6) =>
  b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < eps, `[${i}] ${a[i]} vs ${v}`));

test('none adds the delta: plain FedAvg', () => {
  const opt = new ServerOptimizer({ kind: 'none' });
  close(opt.step(Float32Array.from([1, 2]), Float32Array.from([0.5, -1])), [1.5, 1]);
});

test('fedavgm: m ← β·m + Δ; x ← x + η·m, by hand over two rounds', () => {
  const opt = new ServerOptimizer(
    serverOptimizerSchema.parse({ kind: 'fedavgm', learningRate: 0.5, momentum: 0.9 }),
  );
  // round 1: m = 1 → x = 0 + 0.5·1 = 0.5; round 2: m = 0.9·1 + 1 = 1.9 → x = 0.5 + 0.95 = 1.45
  const x1 = opt.step(Float32Array.from([0]), Float32Array.from([1]));
  close(x1, [0.5]);
  close(opt.step(x1, Float32Array.from([1])), [1.45]);
});

test('fedadam and fedyogi by hand for one coordinate over two rounds', () => {
  const spec = { learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 };
  const adam = new ServerOptimizer({ kind: 'fedadam', ...spec });
  // v₀ = τ² = 1e-4. Round 1, Δ = 1: m = 0.1; v = 0.99e-4 + 0.01 = 0.010099; x = 0.1·0.1/(√0.010099 + 0.01) = 0.090416
  const a1 = adam.step(Float32Array.from([0]), Float32Array.from([1]));
  close(a1, [0.01 / (Math.sqrt(0.010099) + 0.01)]);
  // Round 2, Δ = 1: m = 0.19; v = 0.99·0.010099 + 0.01 = 0.01999801
  close(
    adam.step(a1, Float32Array.from([1])),
    [a1[0]! + 0.019 / (Math.sqrt(0.01999801) + 0.01)],
    1e-5,
  );

  const yogi = new ServerOptimizer({ kind: 'fedyogi', ...spec });
  // Round 1: v = 1e-4 − 0.01·1·sign(1e-4 − 1) = 0.0101; x = 0.01/(√0.0101 + 0.01)
  const y1 = yogi.step(Float32Array.from([0]), Float32Array.from([1]));
  close(y1, [0.01 / (Math.sqrt(0.0101) + 0.01)]);
  // Round 2: v = 0.0101 + 0.01 = 0.0201 (v < Δ² still grows additively, not by β₂ decay)
  close(yogi.step(y1, Float32Array.from([1])), [y1[0]! + 0.019 / (Math.sqrt(0.0201) + 0.01)], 1e-5);
});

test('inputs are not modified and mismatched lengths are refused', () => {
  const opt = new ServerOptimizer({ kind: 'fedavgm', learningRate: 1, momentum: 0.5 });
  const x = Float32Array.from([1, 1]);
  const d = Float32Array.from([1, 2]);
  opt.step(x, d);
  assert.deepEqual([...x, ...d], [1, 1, 1, 2]);
  assert.throws(() => opt.step(x, new Float32Array(3)), AggregationError);
  assert.throws(() => serverOptimizerSchema.parse({ kind: 'fedadam', beta1: 1 }));
});

test('restore puts back the state a snapshot copied: a refused step leaves no momentum', () => {
  const opt = new ServerOptimizer(serverOptimizerSchema.parse({ kind: 'fedavgm' }));
  const w = Float32Array.from([0]);
  opt.step(w, Float32Array.from([1])); // m = 1
  const state = opt.snapshot();
  assert.equal(opt.step(w, Float32Array.from([3e38]))[0], Math.fround(0.9 * 1 + 3e38));
  opt.restore(state);
  // m = 0.9 · 1 + 1 = 1.9, as if the refused step had never been taken.
  assert.equal(opt.step(w, Float32Array.from([1]))[0], Math.fround(1.9));
  // A snapshot is a copy: later steps do not change it.
  opt.restore(state);
  assert.equal(opt.step(w, Float32Array.from([0]))[0], Math.fround(0.9));
});
