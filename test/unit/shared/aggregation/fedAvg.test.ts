import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AggregationError,
  FedAvgAccumulator,
  fedAvg,
} from '../../../../shared/aggregation/fedAvg.js';
import { SIMD_BLOCK } from '../../../../shared/codec/simd.js';
import { createRng } from '../../../../shared/data/rng.js';

test('sample-weighted mean: [1,2]×3 samples + [3,6]×1 sample → [1.5, 3]', () => {
  // (3·1 + 1·3)/4 = 6/4 = 1.5; (3·2 + 1·6)/4 = 12/4 = 3.
  const acc = new FedAvgAccumulator(2);
  acc.add(Float32Array.from([1, 2]), 3);
  acc.add(Float32Array.from([3, 6]), 1);
  assert.equal(acc.count, 2);
  assert.equal(acc.totalWeight, 4);
  assert.deepEqual(acc.result(), Float32Array.from([1.5, 3]));
  assert.deepEqual(
    fedAvg([
      { weights: Float32Array.from([1, 2]), numSamples: 3 },
      { weights: Float32Array.from([3, 6]), numSamples: 1 },
    ]),
    Float32Array.from([1.5, 3]),
  );
  // A single update averages to itself; equal weights give the plain mean:
  // ([0,10] + [4,-2])/2 = [2, 4].
  assert.deepEqual(
    fedAvg([{ weights: Float32Array.from([0.1]), numSamples: 7 }]),
    Float32Array.from([0.1]),
  );
  assert.deepEqual(
    fedAvg([
      { weights: Float32Array.from([0, 10]), numSamples: 5 },
      { weights: Float32Array.from([4, -2]), numSamples: 5 },
    ]),
    Float32Array.from([2, 4]),
  );
});

test('order independent', () => {
  const rng = createRng(11);
  const updates = Array.from({ length: 20 }, () => ({
    weights: Float32Array.from({ length: 1000 }, () => rng.normal()),
    numSamples: 1 + rng.int(500),
  }));
  const a = fedAvg(updates);
  const b = fedAvg(rng.shuffle(updates.slice()));
  // float64 sums: different orders agree far below float32 resolution, so the float32 results match.
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++)
    maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
  assert.ok(maxDiff <= 1e-7, `max diff ${maxDiff}`);
});

test('result() can be called again and after more updates; reset() forgets', () => {
  const acc = new FedAvgAccumulator(1);
  acc.add(Float32Array.from([2]), 1);
  assert.deepEqual(acc.result(), Float32Array.from([2]));
  acc.add(Float32Array.from([5]), 2); // (2 + 10)/3 = 4
  assert.deepEqual(acc.result(), Float32Array.from([4]));
  acc.reset();
  assert.equal(acc.count, 0);
  assert.equal(acc.totalWeight, 0);
  assert.throws(
    () => acc.result(),
    (e: unknown) => e instanceof AggregationError && e.code === 'empty',
  );
});

test('rejections are typed and leave the accumulator unchanged', () => {
  const acc = new FedAvgAccumulator(3);
  acc.add(Float32Array.from([1, 1, 1]), 2);
  const before = acc.result();
  const rejects: [Float32Array, number, string][] = [
    [Float32Array.from([1, 2]), 1, 'length-mismatch'],
    [Float32Array.from([1, 2, 3, 4]), 1, 'length-mismatch'],
    // The NaN is last: a check-while-adding loop would already have added the first two.
    [Float32Array.from([5, 5, NaN]), 1, 'non-finite'],
    [Float32Array.from([5, 5, Infinity]), 1, 'non-finite'],
    [Float32Array.from([5, 5, -Infinity]), 1, 'non-finite'],
    [Float32Array.from([5, 5, 5]), 0, 'bad-weight'],
    [Float32Array.from([5, 5, 5]), -3, 'bad-weight'],
    [Float32Array.from([5, 5, 5]), NaN, 'bad-weight'],
    [Float32Array.from([5, 5, 5]), Infinity, 'bad-weight'],
  ];
  for (const [update, weight, code] of rejects) {
    assert.throws(
      () => acc.add(update, weight),
      (e: unknown) =>
        e instanceof AggregationError && e.code === code && e.name === 'AggregationError',
      `${code}: ${[...update]} × ${weight}`,
    );
  }
  assert.equal(acc.count, 1);
  assert.equal(acc.totalWeight, 2);
  assert.deepEqual(acc.result(), before);
  assert.throws(() => fedAvg([]), /at least one/);
  assert.throws(
    () =>
      fedAvg([
        { weights: Float32Array.from([1]), numSamples: 1 },
        { weights: Float32Array.from([1, 2]), numSamples: 1 },
      ]),
    /update 1: update has 2 values, expected 1/,
  );
  assert.throws(() => new FedAvgAccumulator(-1), AggregationError);
});

test('the SIMD and the scalar accumulator give bit-identical means (random updates, odd length)', () => {
  const length = 2 * SIMD_BLOCK + 7;
  const simd = new FedAvgAccumulator(length);
  const scalar = new FedAvgAccumulator(length, { simd: false });
  assert.equal(simd.usesSimd, true);
  assert.equal(scalar.usesSimd, false);
  const rng = createRng(21);
  for (let u = 0; u < 6; u++) {
    const update = Float32Array.from({ length }, () => rng.normal() * 10 ** rng.int(8));
    const weight = 1 + rng.int(50);
    simd.add(update, weight);
    scalar.add(update, weight);
  }
  const a = simd.result();
  const b = scalar.result();
  let differing = 0;
  for (let i = 0; i < length; i++) if (!Object.is(a[i], b[i])) differing++;
  assert.equal(differing, 0);
  assert.equal(simd.totalWeight, scalar.totalWeight);
});

test('a non-finite value in any block position is refused, index named, and the sum is untouched', () => {
  const length = 3 * SIMD_BLOCK + 5;
  const positions = [
    0,
    1,
    SIMD_BLOCK - 1,
    SIMD_BLOCK,
    2 * SIMD_BLOCK + 3,
    3 * SIMD_BLOCK,
    length - 1,
  ];
  for (const simd of [true, false]) {
    const acc = new FedAvgAccumulator(length, { simd });
    const first = Float32Array.from({ length }, (_, i) => (i % 13) - 6);
    acc.add(first, 3);
    const before = acc.result();
    for (const at of positions) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const update = new Float32Array(length).fill(100);
        update[at] = bad;
        assert.throws(
          () => acc.add(update, 2),
          (e: unknown) =>
            e instanceof AggregationError &&
            e.code === 'non-finite' &&
            e.message === `update value ${at} is ${bad}`,
          `simd ${simd}: ${bad} at ${at}`,
        );
      }
    }
    assert.equal(acc.count, 1);
    assert.equal(acc.totalWeight, 3);
    assert.deepEqual(acc.result(), before, `simd ${simd}`);
    // And the accumulator still works: a good update after the refusals lands exactly.
    acc.add(new Float32Array(length).fill(6), 1);
    assert.equal(acc.result()[0], (3 * -6 + 6) / 4);
  }
});
