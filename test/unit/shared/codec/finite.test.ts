import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FedAvgAccumulator } from '../../../../shared/aggregation/index.js';
import { AggregationError } from '../../../../shared/aggregation/fedAvg.js';
import { decodeWeights, encodeWeights } from '../../../../shared/codec/index.js';
import { firstNonFinite, firstNonFiniteScalar } from '../../../../shared/codec/finite.js';
import { SIMD_BLOCK } from '../../../../shared/codec/simd.js';
import { CodecError } from '../../../../shared/errors.js';
import { mulberry32 } from './helpers.js';

/** The obvious definition, element by element. */
function naiveFirstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

test('firstNonFinite: empty, all finite (extremes, subnormals, ±0) → -1', () => {
  assert.equal(firstNonFinite(new Float32Array(0)), -1);
  const extremes = Float32Array.from([
    0,
    -0,
    1,
    -1,
    3.4028234663852886e38, // largest float32
    -3.4028234663852886e38,
    1.401298464324817e-45, // smallest subnormal
    -1.1754942106924411e-38, // largest subnormal
    1.1754943508222875e-38, // smallest normal
  ]);
  assert.equal(firstNonFinite(extremes), -1);
});

test('firstNonFinite: NaN, +Inf, -Inf and NaN payloads are found at their index', () => {
  const nanWithPayload = new Float32Array(new Uint32Array([0x7f800001]).buffer)[0] as number;
  const negativeNan = new Float32Array(new Uint32Array([0xffc00000]).buffer)[0] as number;
  for (const bad of [NaN, Infinity, -Infinity, nanWithPayload, negativeNan]) {
    const values = new Float32Array(10).fill(0.5);
    values[7] = bad;
    assert.equal(firstNonFinite(values), 7, `value ${bad}`);
  }
});

test('firstNonFinite: block boundaries, the first of several, the last element', () => {
  // The scan works in blocks of 4096 elements: check both sides of every edge.
  for (const index of [0, 1, 4094, 4095, 4096, 4097, 8191, 8192, 12_287, 12_999]) {
    const values = new Float32Array(13_000).fill(-2.5);
    values[index] = NaN;
    assert.equal(firstNonFinite(values), index, `NaN at ${index}`);
    values[12_999] = Infinity;
    assert.equal(firstNonFinite(values), index, `first of two, NaN at ${index}`);
  }
});

test('firstNonFinite: views at a byteOffset and odd lengths report indices within the view', () => {
  const backing = new Float32Array(9001).fill(1);
  backing[3] = NaN; // outside the views below
  backing[5000] = Infinity;
  const view = backing.subarray(5, 5 + 4995); // ends just before the Infinity
  assert.equal(view.byteOffset, 20);
  assert.equal(firstNonFinite(view), -1);
  const longer = backing.subarray(5, 5 + 5001);
  assert.equal(firstNonFinite(longer), 4995);
  const odd = new Float32Array(new ArrayBuffer(4 * 7 + 12), 12, 7); // byteOffset 12, 7 elements
  odd[6] = -Infinity;
  assert.equal(firstNonFinite(odd), 6);
});

test('firstNonFinite agrees with the element-by-element definition on random inputs', () => {
  const rng = mulberry32(11);
  const specials = [NaN, Infinity, -Infinity];
  for (let trial = 0; trial < 200; trial++) {
    const length = Math.floor(rng() * 10_000);
    const values = Float32Array.from({ length }, () => (rng() - 0.5) * 1e30);
    const plants = Math.floor(rng() * 3);
    for (let p = 0; p < plants && length > 0; p++) {
      values[Math.floor(rng() * length)] = specials[Math.floor(rng() * 3)] as number;
    }
    assert.equal(firstNonFinite(values), naiveFirstNonFinite(values), `trial ${trial}`);
  }
});

test('encodeWeights, decodeWeights and FedAvg name the first non-finite index', () => {
  const weights = new Float32Array(10_000).fill(0.25);
  weights[6001] = NaN;
  weights[9000] = Infinity;
  assert.throws(
    () => encodeWeights(weights, 'float32'),
    (e: unknown) =>
      e instanceof CodecError && e.code === 'non-finite' && /weight 6001 /.test(e.message),
  );
  assert.throws(
    () => decodeWeights({ precision: 'float32', length: 10_000, data: weights }),
    (e: unknown) =>
      e instanceof CodecError && e.code === 'non-finite' && /weight 6001 /.test(e.message),
  );
  const accumulator = new FedAvgAccumulator(10_000);
  assert.throws(
    () => accumulator.add(weights, 1),
    (e: unknown) =>
      e instanceof AggregationError &&
      e.code === 'non-finite' &&
      /value 6001 is NaN/.test(e.message),
  );
  assert.equal(accumulator.count, 0);
});

test('decodeWeights: raw float32 bytes at an odd byteOffset decode once, aligned, and are checked', () => {
  const values = Float32Array.from([1.5, -2, 3.25, 0, 7]);
  const bytes = new Uint8Array(values.byteLength + 3);
  bytes.set(new Uint8Array(values.buffer), 3);
  const raw = bytes.subarray(3);
  const out = decodeWeights({ precision: 'float32', length: 5, data: raw });
  assert.deepEqual(Array.from(out), [1.5, -2, 3.25, 0, 7]);
  assert.equal(out.byteOffset, 0);
  // The result owns its bytes: changing the input afterwards does not change it.
  raw.fill(0);
  assert.deepEqual(Array.from(out), [1.5, -2, 3.25, 0, 7]);
  const withNan = Float32Array.from([1, 2, NaN]);
  const nanBytes = new Uint8Array(withNan.byteLength + 1);
  nanBytes.set(new Uint8Array(withNan.buffer), 1);
  assert.throws(
    () => decodeWeights({ precision: 'float32', length: 3, data: nanBytes.subarray(1) }),
    (e: unknown) =>
      e instanceof CodecError && e.code === 'non-finite' && /weight 2 /.test(e.message),
  );
});

test('decodeWeights of a Float32Array returns a copy the caller owns', () => {
  const data = Float32Array.from([1, 2, 3]);
  const out = decodeWeights({ precision: 'float32', length: 3, data });
  assert.notEqual(out.buffer, data.buffer);
  data[0] = 99;
  assert.equal(out[0], 1);
});

test('int8 encode: hand-computed values across segments and odd lengths', () => {
  // Segment 1: max |w| = 2.54 → scale = fround(2.54 / 127) = fround(0.02); segment 2: all zero; segment 3: one value.
  const weights = Float32Array.from([2.54, -1, 0.004, 0, 0, 0.5]);
  const encoded = encodeWeights(weights, 'int8', { segments: [3, 2, 1] });
  const s1 = Math.fround(Math.fround(2.54) / 127);
  const s3 = Math.fround(0.5 / 127);
  assert.deepEqual(Array.from(encoded.scales ?? []), [s1, 0, s3]);
  assert.deepEqual(Array.from(encoded.data), [
    127,
    Math.round(-1 / s1),
    Math.round(Math.fround(0.004) / s1),
    0,
    0,
    127,
  ]);
  // By hand: 2.54 / 0.02 = 127, -1 / 0.02 = -50, 0.004 / 0.02 = 0.2 → 0.
  assert.deepEqual(Array.from(encoded.data).slice(0, 3), [127, -50, 0]);
});

test('int8 encode equals round(w / scale) element by element, exact ties and near-ties included', () => {
  // The encoder multiplies by 1/scale and divides only near a tie; this is the
  // definition it must reproduce bit for bit (the wire format is unchanged).
  const rand = mulberry32(31);
  const n = 200_003;
  const weights = new Float32Array(n);
  for (let i = 0; i < n; i++) weights[i] = (rand() - 0.5) * 3;
  weights[0] = 1.5; // the maximum: scale = fround(1.5 / 127)
  const scale = Math.fround(1.5 / 127);
  // Exact ties k.5 · scale (where representable) and the float32 neighbours of each.
  for (let k = -126; k <= 126; k++) {
    const tie = Math.fround((k + 0.5) * scale);
    const at = 1000 + 3 * (k + 126);
    weights[at] = tie;
    weights[at + 1] = nextFloat32(tie, +1);
    weights[at + 2] = nextFloat32(tie, -1);
  }
  const encoded = encodeWeights(weights, 'int8');
  assert.equal(encoded.scale, scale);
  let mismatches = 0;
  for (let i = 0; i < n; i++) {
    const q = Math.max(-127, Math.min(127, Math.round((weights[i] as number) / scale)));
    if (encoded.data[i] !== q) mismatches++;
  }
  assert.equal(mismatches, 0);
});

test('non-finite weights are found by the fused float16 / int8 passes, first index named', () => {
  const weights = new Float32Array(10_000).fill(0.25);
  weights[7001] = Infinity;
  weights[8000] = NaN;
  for (const precision of ['float16', 'int8'] as const) {
    assert.throws(
      () =>
        encodeWeights(weights, precision, precision === 'int8' ? { segments: [5000, 5000] } : {}),
      (e: unknown) =>
        e instanceof CodecError &&
        e.code === 'non-finite' &&
        /weight 7001 is Infinity/.test(e.message),
    );
  }
  const big = new Float32Array(10).fill(1);
  big[4] = 70_000;
  assert.throws(
    () => encodeWeights(big, 'float16'),
    (e: unknown) => e instanceof CodecError && /weight 4 = 70000 overflows float16/.test(e.message),
  );
  // int8 scales so large that 127 · scale overflows float32 are refused by the product check.
  assert.throws(
    () =>
      decodeWeights({
        precision: 'int8',
        length: 3,
        data: Int8Array.from([1, -127, 0]),
        scale: 1e37,
      }),
    (e: unknown) => e instanceof CodecError && /weight 1 overflows float32/.test(e.message),
  );
  // A scale where only 128 · scale would overflow: every product that occurs is finite.
  const edge = Math.fround(3.4e38 / 127);
  const ok = decodeWeights({
    precision: 'int8',
    length: 2,
    data: Int8Array.from([127, -127]),
    scale: edge,
  });
  assert.ok(Number.isFinite(ok[0]) && Number.isFinite(ok[1]));
});

function nextFloat32(x: number, direction: 1 | -1): number {
  const f = new Float32Array([x]);
  const bits = new Int32Array(f.buffer);
  // For positive x, +1 on the bits moves away from zero; for negative x, towards it.
  bits[0] = (bits[0] as number) + (x >= 0 ? direction : -direction);
  return f[0] as number;
}

test('firstNonFinite (SIMD blocks) and the scalar loop agree at both sides of every SIMD block edge', () => {
  const length = 3 * SIMD_BLOCK + 21;
  const edges = [0, 15, 16, 255, 256];
  for (let b = 1; b <= 3; b++) edges.push(b * SIMD_BLOCK - 1, b * SIMD_BLOCK, b * SIMD_BLOCK + 1);
  edges.push(length - 1);
  const values = new Float32Array(length).fill(0.75);
  assert.equal(firstNonFinite(values), -1);
  assert.equal(firstNonFiniteScalar(values), -1);
  for (const index of edges) {
    for (const bad of [NaN, -Infinity]) {
      values[index] = bad;
      assert.equal(firstNonFinite(values), index, `${bad} at ${index}`);
      assert.equal(firstNonFiniteScalar(values), index, `scalar: ${bad} at ${index}`);
      values[index] = 0.75;
    }
  }
  // A view whose first SIMD block starts mid-buffer still reports indices within the view.
  values[SIMD_BLOCK + 40] = Infinity;
  assert.equal(firstNonFinite(values.subarray(33)), SIMD_BLOCK + 7);
});
