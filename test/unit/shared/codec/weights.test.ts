import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CodecErrorCode } from '../../../../shared/errors.js';
import { createCodec, decodeWeights, encodeWeights } from '../../../../shared/codec/index.js';
import type { EncodedWeights } from '../../../../shared/codec/index.js';
import { expectCodecError, mulberry32 } from './helpers.js';

const codec = createCodec();
/** Through the real wire: pack, unpack, decode. */
const viaWire = (e: EncodedWeights, expected?: number): Float32Array =>
  decodeWeights(codec.decode(codec.encode(e)), expected);

function randomWeights(seed: number, n: number, scale: number): Float32Array {
  const rng = mulberry32(seed);
  return Float32Array.from({ length: n }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    return normal * scale;
  });
}

test('float32 weights round-trip bit-exactly (incl. -0, subnormals, extremes)', () => {
  const w = new Float32Array([0, -0, 1.4e-45, -1.1754942e-38, 3.4028234663852886e38, -1, 0.1]);
  const all = new Float32Array([...w, ...randomWeights(1, 10_000, 0.1)]);
  const encoded = encodeWeights(all, 'float32');
  assert.ok(encoded.data instanceof Float32Array);
  assert.notEqual(
    encoded.data,
    all,
    'encode copies (later training does not change a queued message)',
  );
  const back = viaWire(encoded, all.length);
  assert.deepEqual(new Uint32Array(back.buffer), new Uint32Array(all.buffer));
});

test('float16 weights: relative error ≤ 2^-11 (|w| ≥ 2^-14), absolute ≤ 2^-25 below', () => {
  const w = new Float32Array([
    ...randomWeights(2, 50_000, 0.05),
    ...randomWeights(3, 1000, 1e-5),
    65504,
    -65504,
  ]);
  const encoded = encodeWeights(w, 'float16');
  assert.ok(encoded.data instanceof Uint16Array);
  const back = viaWire(encoded);
  let maxRel = 0;
  for (let i = 0; i < w.length; i++) {
    const x = Math.abs(w[i] as number);
    const err = Math.abs((back[i] as number) - (w[i] as number));
    if (x >= 2 ** -14) maxRel = Math.max(maxRel, err / x);
    else assert.ok(err <= 2 ** -25, `w = ${w[i]}: ${err}`);
  }
  assert.ok(maxRel <= 2 ** -11, `max relative error ${maxRel}`);
  expectCodecError(
    () => encodeWeights(new Float32Array([1, 70000]), 'float16'),
    'non-finite',
    'overflow',
  );
});

test('int8: hand-computed example', () => {
  // max|w| = 1 → scale s = fround(1/127) = 0.0078740157186985 (just below 1/127 = 0.0078740157480315),
  // q = round(w / s): 1 → 127.0000005 → 127; −0.5 → −63.5000002 → −64 (past the tie);
  // 0.25 → 31.7500001 → 32; 0 → 0.
  const e = encodeWeights(new Float32Array([1, -0.5, 0.25, 0]), 'int8');
  assert.equal(e.scale, Math.fround(1 / 127));
  assert.deepEqual([...(e.data as Int8Array)], [127, -64, 32, 0]);
  const back = decodeWeights(e);
  const s = Math.fround(1 / 127);
  assert.deepEqual([...back], [127 * s, -64 * s, 32 * s, 0].map(Math.fround));
});

test('int8: |ŵ − w| ≤ max|w_segment| / 254 per segment; segments protect small tensors', () => {
  const big = randomWeights(4, 20_000, 1); // a kernel, max|w| ≈ 4
  const small = randomWeights(5, 100, 0.001); // a bias vector, max|w| ≈ 0.004
  const w = new Float32Array([...big, ...small]);
  const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const bound = (a: Float32Array): number => (maxAbs(a) / 254) * (1 + 1e-6);

  const single = viaWire(encodeWeights(w, 'int8'), w.length);
  const segmented = encodeWeights(w, 'int8', { segments: [big.length, small.length] });
  assert.deepEqual(segmented.segments, [big.length, small.length]);
  assert.equal(segmented.scales?.length, 2);
  const seg = viaWire(segmented, w.length);

  const maxErr = (a: Float32Array, from: number, to: number): number => {
    let m = 0;
    for (let i = from; i < to; i++) m = Math.max(m, Math.abs((a[i] as number) - (w[i] as number)));
    return m;
  };
  assert.ok(maxErr(single, 0, w.length) <= bound(w));
  assert.ok(maxErr(seg, 0, big.length) <= bound(big));
  assert.ok(maxErr(seg, big.length, w.length) <= bound(small));
  // Without segments the bias is quantised with the kernel's step (≈ 4/254 ≫ 0.004): mostly zeros.
  assert.ok(maxErr(single, big.length, w.length) > 100 * maxErr(seg, big.length, w.length));
});

test('int8: an all-zero segment has scale 0 and decodes to zeros', () => {
  const e = encodeWeights(new Float32Array([0, 0, 1, -1]), 'int8', { segments: [2, 2] });
  assert.deepEqual([...(e.scales as Float32Array)], [0, Math.fround(1 / 127)]);
  assert.deepEqual([...decodeWeights(e)], [0, 0, 1, -1]);
});

test('raw little-endian bytes (a non-msgpackr peer) at an odd byteOffset decode to an aligned copy', () => {
  const w = new Float32Array([1.5, -2, 3.25]);
  const backing = new Uint8Array(1 + w.byteLength);
  backing.set(new Uint8Array(w.buffer), 1);
  const raw = backing.subarray(1); // byteOffset 1: cannot be viewed as Float32Array
  const back = decodeWeights({ precision: 'float32', length: 3, data: raw }, 3);
  assert.deepEqual([...back], [1.5, -2, 3.25]);
  assert.equal(back.byteOffset, 0);
  const halves = decodeWeights({
    precision: 'float16',
    length: 1,
    data: new Uint8Array([0x00, 0x3c]),
  });
  assert.deepEqual([...halves], [1]);
});

test('encodeWeights rejects NaN / Infinity, bad segments and precisions', () => {
  expectCodecError(() => encodeWeights(new Float32Array([1, NaN]), 'float32'), 'non-finite', 'NaN');
  expectCodecError(() => encodeWeights(new Float32Array([Infinity]), 'int8'), 'non-finite', 'Inf');
  expectCodecError(
    () => encodeWeights(new Float32Array(4), 'int8', { segments: [1, 2] }),
    'malformed',
    'segments sum',
  );
  expectCodecError(
    () => encodeWeights(new Float32Array(4), 'float64' as 'float32'),
    'wrong-type',
    'precision',
  );
  expectCodecError(
    () => encodeWeights([1, 2] as unknown as Float32Array, 'float32'),
    'wrong-type',
    'array',
  );
});

test('decodeWeights rejects hostile sets with typed CodecErrors', () => {
  const f32 = (): Record<string, unknown> => ({
    precision: 'float32',
    length: 3,
    data: new Float32Array([1, 2, 3]),
  });
  const i8 = (): Record<string, unknown> => ({
    precision: 'int8',
    length: 3,
    data: new Int8Array([1, -2, 3]),
    scale: 0.5,
  });
  const seg = (): Record<string, unknown> => ({
    ...i8(),
    scale: undefined,
    segments: [1, 2],
    scales: new Float32Array([0.5, 0.25]),
  });
  assert.deepEqual([...decodeWeights(i8())], [0.5, -1, 1.5]);
  assert.deepEqual([...decodeWeights(seg())], [0.5, -0.5, 0.75]);
  const cases: [string, unknown, CodecErrorCode, number?][] = [
    ['null', null, 'wrong-type'],
    ['array', [1, 2, 3], 'wrong-type'],
    ['precision', { ...f32(), precision: 'float64' }, 'wrong-type'],
    ['length < 0', { ...f32(), length: -1 }, 'malformed'],
    ['length fractional', { ...f32(), length: 2.5 }, 'malformed'],
    ['length huge', { ...f32(), length: 2 ** 40 }, 'malformed'],
    ['expected length', f32(), 'malformed', 4],
    ['data length', { ...f32(), length: 2 }, 'malformed'],
    ['data type', { ...f32(), data: new Float64Array(3) }, 'wrong-type'],
    ['data missing', { ...f32(), data: undefined }, 'wrong-type'],
    ['data plain array', { ...f32(), data: [1, 2, 3] }, 'wrong-type'],
    ['raw bytes wrong size', { ...f32(), data: new Uint8Array(11) }, 'malformed'],
    ['NaN', { ...f32(), data: new Float32Array([1, NaN, 3]) }, 'non-finite'],
    ['Inf', { ...f32(), data: new Float32Array([1, 2, -Infinity]) }, 'non-finite'],
    [
      'float16 Inf',
      { precision: 'float16', length: 1, data: new Uint16Array([0x7c00]) },
      'non-finite',
    ],
    [
      'float16 NaN',
      { precision: 'float16', length: 1, data: new Uint16Array([0xfe00]) },
      'non-finite',
    ],
    [
      'float16 as Float32Array',
      { precision: 'float16', length: 1, data: new Float32Array(1) },
      'wrong-type',
    ],
    ['int8 no scale', { ...i8(), scale: undefined }, 'malformed'],
    ['int8 scale string', { ...i8(), scale: '0.5' }, 'malformed'],
    ['int8 scale NaN', { ...i8(), scale: NaN }, 'non-finite'],
    ['int8 scale Inf', { ...i8(), scale: Infinity }, 'non-finite'],
    ['int8 scale < 0', { ...i8(), scale: -1 }, 'malformed'],
    ['int8 product overflows float32', { ...i8(), scale: 1e300 }, 'non-finite'],
    ['int8 data type', { ...i8(), data: new Uint8Array([1, 2, 3]).subarray(0, 2) }, 'malformed'],
    ['segments sum', { ...seg(), segments: [1, 1] }, 'malformed'],
    ['segments negative', { ...seg(), segments: [4, -1] }, 'malformed'],
    ['segments not array', { ...seg(), segments: 3 }, 'wrong-type'],
    ['scales count', { ...seg(), scales: new Float32Array([0.5]) }, 'malformed'],
    ['scales NaN', { ...seg(), scales: new Float32Array([0.5, NaN]) }, 'non-finite'],
    ['scales missing', { ...seg(), scales: undefined }, 'wrong-type'],
    ['scales without segments', { ...i8(), scales: new Float32Array([1]) }, 'malformed'],
  ];
  for (const [label, input, code, expected] of cases) {
    expectCodecError(() => decodeWeights(input, expected), code, label);
  }
});
