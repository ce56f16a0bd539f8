import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregationError } from '../../../../../shared/aggregation/fedAvg.js';
import {
  aggregatorSpecSchema,
  clipToNorm,
  coordinateMedian,
  createAggregator,
  fedAvgAggregator,
  krum,
  krumSelect,
  l2Norm,
  normClipping,
  trimmedMean,
} from '../../../../../shared/aggregation/robust/index.js';
import type { Aggregator, ClientDelta } from '../../../../../shared/aggregation/robust/index.js';
import { createRng } from '../../../../../shared/data/rng.js';

const u = (values: number[], numSamples = 1): ClientDelta => ({
  delta: Float32Array.from(values),
  numSamples,
});

function assertClose(actual: Float32Array, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => {
    const a = actual[i] as number;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `[${i}] ${a} vs ${e}`);
  });
}

test('median: hand-computed odd and even cases, numSamples ignored', () => {
  const median = coordinateMedian();
  assert.equal(median.name, 'median');
  // Coordinate 0: median of [1, 5, 3] = 3; coordinate 1: [-2, 0, 10] → 0.
  assert.deepEqual(
    median.aggregate([u([1, -2], 100), u([5, 0]), u([3, 10])]),
    Float32Array.from([3, 0]),
  );
  // Even: [1, 2, 4, 9] → (2 + 4)/2 = 3.
  assert.deepEqual(median.aggregate([u([9]), u([1]), u([4]), u([2])]), Float32Array.from([3]));
  // One update: itself.
  assert.deepEqual(median.aggregate([u([0.25, -7])]), Float32Array.from([0.25, -7]));
});

test('trimmed mean: hand-computed, β = 0 is the plain mean', () => {
  // n = 5, β = 0.2 → k = 1 trimmed per side: [1, 2, 3, 4, 100] → (2 + 3 + 4)/3 = 3.
  const tm = trimmedMean({ beta: 0.2 });
  assert.equal(tm.name, 'trimmed-mean');
  assert.deepEqual(
    tm.aggregate([u([100, 0]), u([1, 0]), u([3, 6]), u([2, 0]), u([4, 0])]),
    Float32Array.from([3, 0]),
  );
  // β = 0.2 with n = 4: k = ⌊0.8⌋ = 0, nothing trimmed: (1 + 2 + 3 + 10)/4 = 4.
  assert.deepEqual(tm.aggregate([u([1]), u([2]), u([3]), u([10])]), Float32Array.from([4]));
  // β = 0.25, n = 4: k = 1 → (2 + 3)/2 = 2.5.
  assert.deepEqual(
    trimmedMean({ beta: 0.25 }).aggregate([u([1]), u([2]), u([3]), u([10])]),
    Float32Array.from([2.5]),
  );
  assert.deepEqual(
    trimmedMean({ beta: 0 }).aggregate([u([1], 5), u([2]), u([6])]),
    Float32Array.from([3]),
  );
  assert.throws(() => trimmedMean({ beta: 0.5 }), { name: 'AggregationError', code: 'bad-option' });
  assert.throws(() => trimmedMean({ beta: -0.1 }), { code: 'bad-option' });
});

test('krum picks an update from the honest cluster; multi-krum averages the m best', () => {
  // Honest updates near (1, 1); two Byzantine ones far away (and close to each other).
  const honest = [
    [1, 1],
    [1.1, 0.9],
    [0.9, 1.05],
    [1.05, 1],
    [0.95, 0.95],
  ];
  const byzantine = [
    [-20, 30],
    [-21, 31],
  ];
  const updates = [...honest, ...byzantine].map((v) => u(v));
  // n = 7, f = 2 → n − f − 2 = 3 neighbours per score; n ≥ 2f + 3 = 7 holds.
  const { selected, scores } = krumSelect(
    updates.map((x) => x.delta),
    2,
    3,
  );
  assert.equal(selected.length, 3);
  for (const i of selected) assert.ok(i < 5, `selected ${i} is Byzantine`);
  // Hand-computed scores (three nearest squared distances; Byzantine ones are ~10³ away):
  // update 0, (1, 1): to 3 0.0025, to 4 0.005, to 2 0.0125 (to 1 0.02) → 0.02;
  // update 3, (1.05, 1): to 0 0.0025, to 1 0.0125, to 4 0.0125 (to 2 0.025) → 0.0275.
  assert.ok(Math.abs((scores[0] as number) - 0.02) < 1e-6, `score ${scores[0]}`);
  assert.ok(Math.abs((scores[3] as number) - 0.0275) < 1e-6, `score ${scores[3]}`);
  // Update 0 has the lowest score: it is Krum's choice.
  assert.equal(selected[0], 0);
  const one = krum({ f: 2 });
  assert.equal(one.name, 'krum');
  assertClose(one.aggregate(updates), [1, 1]);
  const multi = krum({ f: 2, m: 3 });
  assert.equal(multi.name, 'multi-krum');
  const chosen = selected.map((i) => honest[i] as number[]);
  const mean = [0, 1].map((k) => chosen.reduce((s, v) => s + (v[k] as number), 0) / 3);
  assertClose(multi.aggregate(updates), mean);
  // Too few updates for f = 2: n = 6 < 7.
  assert.throws(() => one.aggregate(updates.slice(0, 6)), {
    name: 'AggregationError',
    code: 'too-few',
  });
  // Default f = ⌊(n − 3)/2⌋ = 2 for n = 7.
  assertClose(krum().aggregate(updates), [1, 1]);
  assert.throws(() => krum({ f: -1 }), { code: 'bad-option' });
  assert.throws(() => krum({ m: 0 }), { code: 'bad-option' });
  assert.throws(() => krum({ f: 2, m: 6 }).aggregate(updates), { code: 'too-few' });
});

test('norm clipping: each update clipped to maxNorm, then averaged; median bound by default', () => {
  // maxNorm 5: (3, 4) has norm 5 (kept); (30, 40) has norm 50 → (3, 4); (0, 1) kept.
  const clip = normClipping({ maxNorm: 5 });
  assert.equal(clip.name, 'norm-clipping');
  assertClose(clip.aggregate([u([3, 4]), u([30, 40]), u([0, 1])]), [2, 3]);
  // Weighted: (1·(3,4) + 3·(0,1)) / 4 = (0.75, 1.75).
  assertClose(
    normClipping({ maxNorm: 5, weighted: true }).aggregate([u([3, 4], 1), u([0, 1], 3)]),
    [0.75, 1.75],
  );
  // Median of norms [1, 2, 100] = 2: (1,0) kept, (0,2) kept, (100,0) → (2,0); mean (1, 2/3).
  assertClose(normClipping().aggregate([u([1, 0]), u([0, 2]), u([100, 0])]), [1, 2 / 3]);
  assert.throws(() => normClipping({ maxNorm: 0 }), { code: 'bad-option' });
  assert.throws(() => normClipping({ maxNorm: Infinity }), { code: 'bad-option' });
});

test('clipToNorm: the float32 result never exceeds the bound, direction kept, small vectors untouched', () => {
  const rng = createRng(5);
  for (let trial = 0; trial < 200; trial++) {
    const v = Float32Array.from({ length: 1 + rng.int(2000) }, () => rng.normal() * 10);
    const bound = 0.01 + rng.next() * 5;
    const c = clipToNorm(v, bound);
    const norm = l2Norm(c);
    assert.ok(norm <= bound, `norm ${norm} > ${bound}`);
    assert.ok(norm >= bound * (1 - 1e-6), `norm ${norm} far below ${bound}`);
    // Same direction: cosine 1.
    let dot = 0;
    for (let i = 0; i < v.length; i++) dot += (v[i] as number) * (c[i] as number);
    assert.ok(Math.abs(dot / (l2Norm(v) * norm) - 1) < 1e-6);
  }
  const small = Float32Array.from([0.1, -0.2]);
  const kept = clipToNorm(small, 1);
  assert.deepEqual(kept, small);
  assert.notEqual(kept, small, 'a copy, not the input');
});

test('breakdown: one huge outlier moves FedAvg but not median, trimmed mean, Krum or clipping', () => {
  const rng = createRng(17);
  const d = 50;
  const center = Float32Array.from({ length: d }, () => rng.normal());
  const honest = Array.from({ length: 9 }, () =>
    u(Array.from(center, (c) => c + 0.01 * rng.normal())),
  );
  const outlier = u(Array.from({ length: d }, () => 1e6));
  const distToCenter = (x: Float32Array): number => {
    let s = 0;
    for (let i = 0; i < d; i++) s += ((x[i] as number) - (center[i] as number)) ** 2;
    return Math.sqrt(s);
  };
  const all = [...honest, outlier];
  assert.ok(distToCenter(fedAvgAggregator().aggregate(all)) > 1e4, 'FedAvg is dragged away');
  const robust: Aggregator[] = [
    coordinateMedian(),
    trimmedMean({ beta: 0.1 }),
    krum({ f: 1 }),
    krum({ f: 1, m: 5 }),
    normClipping(),
  ];
  for (const agg of robust) {
    const clean = distToCenter(agg.aggregate(honest));
    const attacked = distToCenter(agg.aggregate(all));
    // Honest spread is 0.01 per coordinate (√50·0.01 ≈ 0.07 per update). Norm
    // clipping still lets the outlier in at the median norm (≈ ‖center‖ ≈ 7) / 10.
    const limit = agg.name === 'norm-clipping' ? 2 : 0.1;
    assert.ok(attacked < limit, `${agg.name}: ${attacked} from the honest center (clean ${clean})`);
  }
});

test('validation: empty, length mismatch, NaN/Inf, bad numSamples; inputs never modified', () => {
  const aggs: Aggregator[] = [
    fedAvgAggregator(),
    coordinateMedian(),
    trimmedMean(),
    krum({ f: 0 }),
    normClipping(),
  ];
  for (const agg of aggs) {
    assert.throws(() => agg.aggregate([]), { name: 'AggregationError', code: 'empty' });
    assert.throws(() => agg.aggregate([u([1, 2]), u([1, 2]), u([1])]), {
      code: 'length-mismatch',
      message: /update 2 has 1 values, expected 2/,
    });
    assert.throws(() => agg.aggregate([u([1, 2]), u([NaN, 2]), u([1, 2])]), {
      code: 'non-finite',
      message: /update 1 value 0 is NaN/,
    });
    assert.throws(() => agg.aggregate([u([1, 2]), u([1, 2]), u([1, Infinity])]), {
      code: 'non-finite',
    });
    assert.throws(() => agg.aggregate([u([1, 2], 0), u([1, 2]), u([1, 2])]), {
      code: 'bad-weight',
    });
    const inputs = [u([1, 2]), u([30, -40]), u([3, 4])];
    const copies = inputs.map((x) => Float32Array.from(x.delta));
    const out = agg.aggregate(inputs);
    assert.ok(out instanceof Float32Array && out.length === 2);
    inputs.forEach((x, i) => assert.deepEqual(x.delta, copies[i]));
    assert.ok(
      (() => {
        try {
          agg.aggregate([]);
        } catch (err) {
          return err instanceof AggregationError;
        }
        return false;
      })(),
    );
  }
});

test('aggregator specs: schema parses, refuses unknown keys, factory builds each', () => {
  const specs = [
    { kind: 'fedavg' },
    { kind: 'median' },
    { kind: 'trimmed-mean', beta: 0.1 },
    { kind: 'krum', f: 1 },
    { kind: 'krum', f: 1, m: 3 },
    { kind: 'norm-clipping', maxNorm: 2 },
    { kind: 'norm-clipping' },
  ];
  const names = specs.map((s) => createAggregator(aggregatorSpecSchema.parse(s)).name);
  assert.deepEqual(names, [
    'fedavg',
    'median',
    'trimmed-mean',
    'krum',
    'multi-krum',
    'norm-clipping',
    'norm-clipping',
  ]);
  assert.equal(aggregatorSpecSchema.safeParse({ kind: 'median', extra: 1 }).success, false);
  assert.equal(aggregatorSpecSchema.safeParse({ kind: 'trimmed-mean', beta: 0.5 }).success, false);
  assert.equal(aggregatorSpecSchema.safeParse({ kind: 'bulyan' }).success, false);
  // FedAvg behind the interface is the sample-weighted mean: (3·1 + 1·5)/4 = 2.
  assert.deepEqual(
    createAggregator({ kind: 'fedavg' }).aggregate([u([1], 3), u([5], 1)]),
    Float32Array.from([2]),
  );
});
