import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLOAT16_MAX,
  float16ToFloat32,
  float32ToFloat16,
  isHalfNonFinite,
} from '../../../../shared/softLabels/index.js';
import { mulberry32 } from './rng.js';

const half = (x: number): number => float32ToFloat16(new Float32Array([x]))[0] as number;
const fromHalf = (h: number): number => float16ToFloat32(new Uint16Array([h]))[0] as number;

/** Reference value of a half bit pattern, computed in float64 from the definition. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// All finite non-negative halves in increasing order: bit patterns 0x0000..0x7bff.
const POSITIVE_HALVES = Float64Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));

/**
 * Independent reference rounding: nearest finite half by binary search over
 * the table, ties to the even bit pattern, ≥ 65520 (= 65504 + half a step)
 * → Infinity.
 */
function referenceHalf(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = POSITIVE_HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((POSITIVE_HALVES[mid] as number) <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - (POSITIVE_HALVES[lo] as number);
  const dHi = (POSITIVE_HALVES[hi] as number) - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

test('float32ToFloat16: hand-checked bit patterns', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [FLOAT16_MAX, 0x7bff], // 65504 = (2 − 2^-10) · 2^15
    [65519, 0x7bff], // below the halfway point 65520 → stays finite
    [65520, 0x7c00], // halfway to the next (unrepresentable) step → rounds to even → Infinity
    [1e6, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // exactly half of it: tie → even (0)
    [1.5 * 2 ** -25, 0x0001], // above the tie → 1
    [3 * 2 ** -25, 0x0002], // 1.5 · 2^-24: tie between 1 and 2 → even (2)
    [5 * 2 ** -25, 0x0002], // 2.5 · 2^-24: tie between 2 and 3 → even (2)
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10 → even mantissa (1)
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9 → even (1 + 2^-9)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie → up
    [2 ** -40, 0x0000], // underflow
    [-(2 ** -40), 0x8000],
    [0.1, 0x2e66], // 0.1 ≈ 1.6 · 2^-4 → exp 11, mantissa round(0.6 · 1024 = 614.4) = 614 = 0x266
  ];
  for (const [x, expected] of cases) {
    assert.equal(
      half(x),
      expected,
      `half(${x}) = 0x${half(x).toString(16)}, want 0x${expected.toString(16)}`,
    );
  }
  const nan = half(NaN);
  assert.ok(isHalfNonFinite(nan) && (nan & 0x3ff) !== 0, 'NaN stays NaN');
  assert.ok(Number.isNaN(fromHalf(nan)));
});

test('float16ToFloat32 is exact for every one of the 65536 bit patterns and inverts float32ToFloat16', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
  const floats = float16ToFloat32(all);
  const back = float32ToFloat16(floats);
  for (let h = 0; h < 65536; h++) {
    const expected = halfValue(h);
    const got = floats[h] as number;
    if (Number.isNaN(expected)) {
      assert.ok(Number.isNaN(got), `0x${h.toString(16)} should be NaN`);
      assert.ok(isHalfNonFinite(back[h] as number) && ((back[h] as number) & 0x3ff) !== 0);
    } else {
      assert.ok(Object.is(got, expected), `0x${h.toString(16)}: ${got} vs ${expected}`);
      assert.equal(back[h], h, `round trip of 0x${h.toString(16)}`);
    }
  }
});

test('float32ToFloat16 rounds to nearest even, matching an independent table-based reference', () => {
  const rng = mulberry32(7);
  const n = 200_000;
  const src = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Log-uniform magnitudes from 2^-30 (below subnormals) to 2^17 (overflow), random sign.
    const mag = 2 ** (-30 + 47 * rng());
    src[i] = rng() < 0.5 ? -mag : mag;
  }
  // Exact ties and their neighbours around every binade boundary.
  const extra: number[] = [];
  for (let h = 0; h < 0x7bff; h += 37) {
    const mid = ((POSITIVE_HALVES[h] as number) + (POSITIVE_HALVES[h + 1] as number)) / 2;
    extra.push(mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -23)));
  }
  const all = new Float32Array([...src, ...extra]);
  const got = float32ToFloat16(all);
  for (let i = 0; i < all.length; i++) {
    const x = all[i] as number;
    assert.equal(got[i], referenceHalf(x), `x = ${x}`);
  }
});

test('float16 error bounds: relative ≤ 2^-11 in the normal range, absolute ≤ 2^-25 below it', () => {
  const rng = mulberry32(11);
  const src = Float32Array.from({ length: 100_000 }, () => 2 ** (-28 + 43 * rng()));
  const back = float16ToFloat32(float32ToFloat16(src));
  let maxRel = 0;
  let maxAbsSub = 0;
  for (let i = 0; i < src.length; i++) {
    const x = src[i] as number;
    const err = Math.abs((back[i] as number) - x);
    if (x >= 2 ** -14) maxRel = Math.max(maxRel, err / x);
    else maxAbsSub = Math.max(maxAbsSub, err);
  }
  assert.ok(maxRel <= 2 ** -11, `max relative error ${maxRel}`);
  assert.ok(maxAbsSub <= 2 ** -25, `max absolute error below 2^-14: ${maxAbsSub}`);
  assert.ok(maxRel > 2 ** -12, 'the bound is tight (sanity check of the test itself)');
});

test('float32ToFloat16 handles views at a non-zero offset', () => {
  const backing = new Float32Array([9, 1, 2, 9]);
  const view = backing.subarray(1, 3);
  assert.deepEqual([...float32ToFloat16(view)], [0x3c00, 0x4000]);
});
