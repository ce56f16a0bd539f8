import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIMD_BLOCK, SimdKernels, simdAvailable } from '../../../../shared/codec/simd.js';
import { mulberry32 } from './helpers.js';

const NAN_PAYLOAD = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0] as number;
const NEGATIVE_NAN = new Float32Array(new Uint32Array([0xffc00000]).buffer)[0] as number;

function kernels(extraBytes = 0): SimdKernels {
  const simd = SimdKernels.create(extraBytes);
  assert.ok(simd, 'Node 20 runs WebAssembly SIMD, so the kernels must be created');
  return simd;
}

test('SIMD kernels compile here (the scalar loops are only the fallback)', () => {
  assert.equal(simdAvailable(), true);
});

test('nonFinite: every lane of a 16-value group, every kind of non-finite value, finite extremes', () => {
  const simd = kernels();
  const finite = [3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -0, 0];
  for (const count of [1, 15, 16, 17, 33, 64, SIMD_BLOCK]) {
    const values = new Float32Array(count).fill(-1.25);
    values.set(finite.slice(0, count));
    assert.equal(simd.scratchHasNonFinite(simd.load(values, 0, count)), false, `finite, ${count}`);
    for (const at of new Set([0, 1, 3, 4, 7, 8, 12, 15, count - 1].filter((i) => i < count))) {
      for (const bad of [NaN, Infinity, -Infinity, NAN_PAYLOAD, NEGATIVE_NAN]) {
        values[at] = bad;
        const padded = simd.load(values, 0, count);
        assert.equal(simd.scratchHasNonFinite(padded), true, `${bad} at ${at} of ${count}`);
        values[at] = -1.25;
      }
    }
  }
});

test('load zero-pads: a NaN left in the scratch by a longer block is not seen by a shorter one', () => {
  const simd = kernels();
  const long = new Float32Array(40).fill(1);
  long[20] = NaN;
  assert.equal(simd.scratchHasNonFinite(simd.load(long, 0, 40)), true);
  assert.equal(simd.load(long, 0, 17), 32);
  assert.equal(simd.scratchHasNonFinite(32), false);
});

test('addScaled is bit-identical to the float64 JavaScript loop, any length, tiny to huge values', () => {
  const rng = mulberry32(5);
  const length = SIMD_BLOCK + 37;
  const padded = (length + 15) & ~15;
  const simd = kernels(padded * 8);
  const sum = new Float64Array(simd.memory.buffer, simd.extraOffset, length);
  const expected = new Float64Array(length);
  for (let round = 0; round < 5; round++) {
    const weight = 1 + rng() * 100;
    const update = Float32Array.from({ length }, (_, i) =>
      i % 97 === 0 ? 1e-40 : i % 89 === 0 ? 3e38 * (rng() - 0.5) : (rng() - 0.5) * 10 ** (i % 9),
    );
    for (let start = 0; start < length; start += SIMD_BLOCK) {
      const count = Math.min(SIMD_BLOCK, length - start);
      simd.addScratchScaled(simd.extraOffset + start * 8, simd.load(update, start, count), weight);
    }
    for (let i = 0; i < length; i++) {
      expected[i] = (expected[i] as number) + weight * (update[i] as number);
    }
  }
  let differing = 0;
  for (let i = 0; i < length; i++) if (!Object.is(sum[i], expected[i])) differing++;
  assert.equal(differing, 0);
  // The padding past `length` only ever received weight · 0.
  const tail = new Float64Array(simd.memory.buffer, simd.extraOffset + length * 8, padded - length);
  assert.deepEqual(Array.from(tail), new Array(padded - length).fill(0));
});

test('create refuses memory beyond wasm32 (4 GiB) instead of throwing', () => {
  assert.equal(SimdKernels.create(2 ** 32), null);
});
