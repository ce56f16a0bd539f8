import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../../shared/data/rng.js';
import { DistillationInputError } from '../../../../shared/errors.js';

function draws(n: number, f: () => number): Float64Array {
  return Float64Array.from({ length: n }, f);
}

function moments(xs: Float64Array): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

test('same seed gives the same sequence; different seeds differ', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const sa = draws(100, () => a.next());
  const sb = draws(100, () => b.next());
  const sc = draws(100, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  // Seeds beyond 32 bits and negative seeds are distinct too.
  const big1 = createRng(2 ** 40).next();
  const big2 = createRng(2 ** 40 + 2 ** 32).next();
  const neg = createRng(-1).next();
  assert.notEqual(big1, big2);
  assert.notEqual(neg, createRng(1).next());
  for (const x of sa) assert.ok(x >= 0 && x < 1);
});

test('every method is deterministic per seed', () => {
  const run = (seed: number) => {
    const r = createRng(seed);
    return [
      r.int(10),
      r.normal(),
      r.normal(),
      r.gamma(0.3),
      r.gamma(2.5),
      ...r.dirichlet([0.1, 0.1, 0.1]),
      ...r.shuffle([1, 2, 3, 4, 5, 6]),
    ];
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('uniform and int: mean and range over 20k draws', () => {
  const r = createRng(1);
  const u = moments(draws(20000, () => r.next()));
  assert.ok(Math.abs(u.mean - 0.5) < 0.01, `uniform mean ${u.mean}`);
  assert.ok(Math.abs(u.variance - 1 / 12) < 0.003, `uniform variance ${u.variance}`);
  const counts = new Int32Array(7);
  for (let i = 0; i < 21000; i++) {
    const k = r.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    counts[k] = (counts[k] as number) + 1;
  }
  // Expected 3000 each; sd ≈ sqrt(3000·6/7) ≈ 51, allow ~5 sd.
  for (const c of counts) assert.ok(Math.abs(c - 3000) < 250, `int counts ${counts.join(',')}`);
});

test('normal: mean 0, variance 1 over 20k draws', () => {
  const r = createRng(2);
  const { mean, variance } = moments(draws(20000, () => r.normal()));
  // sd of the mean = 1/sqrt(20000) ≈ 0.007.
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
});

test('gamma: mean = variance = shape, for shapes below and above 1', () => {
  const r = createRng(3);
  for (const shape of [0.1, 0.5, 1, 2.5, 10]) {
    const xs = draws(20000, () => r.gamma(shape));
    for (const x of xs) assert.ok(x >= 0 && Number.isFinite(x));
    const { mean, variance } = moments(xs);
    // Gamma(k, 1): mean k, variance k. Tolerances ≈ 5 sd of the estimates.
    assert.ok(Math.abs(mean - shape) < 0.03 * Math.max(1, shape), `shape ${shape}: mean ${mean}`);
    assert.ok(
      Math.abs(variance - shape) < 0.08 * Math.max(1, shape),
      `shape ${shape}: variance ${variance}`,
    );
  }
});

test('dirichlet: sums to 1, mean α/Σα, valid even for tiny α', () => {
  const r = createRng(4);
  const alphas = [1, 2, 7];
  const sums = [0, 0, 0];
  const n = 5000;
  for (let i = 0; i < n; i++) {
    const p = r.dirichlet(alphas);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    p.forEach((v, j) => (sums[j] = (sums[j] as number) + v));
  }
  // E[p] = α/Σα = [0.1, 0.2, 0.7].
  [0.1, 0.2, 0.7].forEach((e, j) => assert.ok(Math.abs((sums[j] as number) / n - e) < 0.01));
  // α = 0.001: gamma draws underflow to 0 in linear space; log space still gives a distribution.
  for (let i = 0; i < 100; i++) {
    const p = r.dirichlet(new Float64Array(10).fill(0.001));
    const s = p.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(s - 1) < 1e-12 && p.every((v) => v >= 0 && Number.isFinite(v)));
  }
});

test('shuffle is an in-place permutation and returns the same array', () => {
  const r = createRng(5);
  const arr = Array.from({ length: 50 }, (_, i) => i);
  const out = r.shuffle(arr);
  assert.equal(out, arr);
  assert.deepEqual(
    [...arr].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.notDeepEqual(
    arr,
    Array.from({ length: 50 }, (_, i) => i),
  );
  const typed = r.shuffle(Int32Array.from([1, 2, 3, 4]));
  assert.ok(typed instanceof Int32Array);
  assert.deepEqual([...typed].sort(), [1, 2, 3, 4]);
  // Each of the 6 orders of 3 items is about equally likely.
  const seen = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const key = r.shuffle(['a', 'b', 'c']).join('');
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  assert.equal(seen.size, 6);
  for (const c of seen.values()) assert.ok(Math.abs(c - 1000) < 150, `orders ${[...seen]}`);
});

test('bad arguments throw DistillationInputError', () => {
  assert.throws(() => createRng(1.5), DistillationInputError);
  assert.throws(() => createRng(NaN), DistillationInputError);
  const r = createRng(0);
  assert.throws(() => r.int(0), DistillationInputError);
  assert.throws(() => r.int(2.5), DistillationInputError);
  assert.throws(() => r.gamma(0), DistillationInputError);
  assert.throws(() => r.gamma(-1), DistillationInputError);
  assert.throws(() => r.gamma(Infinity), DistillationInputError);
  assert.throws(() => r.dirichlet([]), DistillationInputError);
  assert.throws(() => r.dirichlet([1, 0]), DistillationInputError);
});
