import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError, DistillationInputError } from '../../../../shared/errors.js';
import type { CodecErrorCode } from '../../../../shared/errors.js';
import {
  SOFT_LABEL_FORMAT,
  decodeSoftLabels,
  dequantizeProbsUint8,
  encodeSoftLabels,
  float16ToFloat32,
  float32ToFloat16,
  quantizeProbsUint8,
  sparsifyTopK,
} from '../../../../shared/softLabels/index.js';
import type { SoftLabelPrecision, SoftLabelSet } from '../../../../shared/softLabels/index.js';
import { createCodec } from '../../../../shared/codec/index.js';
import { mulberry32, randomProbRows } from './rng.js';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs((actual[i] as number) - (expected[i] as number));
    assert.ok(d <= tol, `[${i}] ${actual[i]} vs ${expected[i]} (|Δ| = ${d} > ${tol})`);
  }
}

function rowSums(dense: Float32Array, c: number): number[] {
  const sums: number[] = [];
  for (let r = 0; r < dense.length / c; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += dense[r * c + j] as number;
    sums.push(s);
  }
  return sums;
}

/** KL(a ‖ b) of one row in float64; 0·log 0 = 0. */
function kl(a: ArrayLike<number>, b: ArrayLike<number>, off: number, c: number): number {
  let s = 0;
  for (let j = 0; j < c; j++) {
    const p = a[off + j] as number;
    if (p > 0) s += p * Math.log(p / (b[off + j] as number));
  }
  return s;
}

/** Mass of the k largest entries of a row. */
function topMass(p: Float32Array, off: number, c: number, k: number): number {
  return [...p.subarray(off, off + c)]
    .sort((x, y) => y - x)
    .slice(0, k)
    .reduce((x, y) => x + y, 0);
}

function expectCodecError(fn: () => unknown, code: CodecErrorCode, label: string): void {
  assert.throws(
    fn,
    (e: unknown) => {
      assert.ok(e instanceof CodecError, `${label}: expected CodecError, got ${String(e)}`);
      assert.equal(e.code, code, `${label}: code ${e.code} (${e.message}), want ${code}`);
      return true;
    },
    label,
  );
}

test('top-2 renormalisation: hand-computed example', () => {
  // Row 0: [0.1, 0.5, 0.3, 0.1] → keep classes 1 (0.5) and 2 (0.3); kept mass 0.8
  //        → 0.5/0.8 = 0.625, 0.3/0.8 = 0.375.
  // Row 1: [0.25, 0.25, 0.5, 0] → class 2 (0.5), then the tie 0.25/0.25 goes to the lower
  //        index 0; kept mass 0.75 → 0.5/0.75 = 2/3, 0.25/0.75 = 1/3.
  const probs = new Float32Array([0.1, 0.5, 0.3, 0.1, 0.25, 0.25, 0.5, 0]);
  const { indices, values } = sparsifyTopK(probs, 4, 2);
  assert.deepEqual([...indices], [1, 2, 2, 0]);
  assertClose(values, [0.625, 0.375, 2 / 3, 1 / 3], 1e-7);

  const set = encodeSoftLabels(probs, { numClasses: 4, topK: 2, precision: 'float32' });
  assert.equal(set.format, SOFT_LABEL_FORMAT);
  assert.equal(set.count, 2);
  assert.ok(set.indices instanceof Uint8Array, 'uint8 indices when numClasses ≤ 256');
  assert.ok(set.values instanceof Float32Array);
  assertClose(decodeSoftLabels(set), [0, 0.625, 0.375, 0, 1 / 3, 0, 2 / 3, 0], 1e-7);
});

test('dense float32 round trip reproduces the (renormalised) input', () => {
  const rng = mulberry32(1);
  const probs = randomProbRows(rng, 50, 10);
  const set = encodeSoftLabels(probs, { numClasses: 10, precision: 'float32' });
  assert.equal(set.indices, undefined, 'no indices when dense');
  assert.equal(set.topK, 10);
  assertClose(decodeSoftLabels(set), probs, 2e-7);
});

test('the default precision is float16 and large class counts use uint16 indices', () => {
  const rng = mulberry32(2);
  const probs = randomProbRows(rng, 4, 300);
  const set = encodeSoftLabels(probs, { numClasses: 300, topK: 5 });
  assert.equal(set.precision, 'float16');
  assert.ok(set.values instanceof Uint16Array);
  assert.ok(set.indices instanceof Uint16Array);
  assert.equal(set.indices.length, 20);
});

test('float16: error before and after renormalisation', () => {
  const rng = mulberry32(3);
  const c = 10;
  const probs = randomProbRows(rng, 500, c);
  // Before renormalisation: the stored halves vs the (already normalised) input.
  const halves = float16ToFloat32(float32ToFloat16(probs));
  let maxRel = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    const err = Math.abs((halves[i] as number) - p);
    if (p >= 2 ** -14) maxRel = Math.max(maxRel, err / p);
    else assert.ok(err <= 2 ** -25, `subnormal-range error ${err}`);
  }
  assert.ok(maxRel <= 2 ** -11, `relative error before renormalisation ${maxRel} > 2^-11`);

  // After decode (renormalised): relative error ≤ 2^-10 + float32 rounding.
  const decoded = decodeSoftLabels(
    encodeSoftLabels(probs, { numClasses: c, precision: 'float16' }),
  );
  let maxRelAfter = 0;
  let maxAbsAfter = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    const err = Math.abs((decoded[i] as number) - p);
    maxAbsAfter = Math.max(maxAbsAfter, err);
    if (p >= 2 ** -14) maxRelAfter = Math.max(maxRelAfter, err / p);
  }
  assert.ok(maxRelAfter <= 2 ** -10 + 2 ** -23, `relative error after decode ${maxRelAfter}`);
  assert.ok(maxAbsAfter <= 5e-4, `absolute error after decode ${maxAbsAfter}`);
  for (const s of rowSums(decoded, c)) assert.ok(Math.abs(s - 1) < 1e-6);
});

test('uint8: |dequantised − p| ≤ 1/510 before renormalisation; bounded after', () => {
  const rng = mulberry32(4);
  // Before renormalisation: every p in [0, 1] on a fine grid plus random rows.
  const grid = Float32Array.from({ length: 10_001 }, (_, i) => i / 10_000);
  const deq = dequantizeProbsUint8(quantizeProbsUint8(grid));
  for (let i = 0; i < grid.length; i++) {
    const err = Math.abs((deq[i] as number) - (grid[i] as number));
    assert.ok(err <= 1 / 510 + 1e-7, `p = ${grid[i]}: error ${err}`);
  }

  const c = 10;
  const k = 4;
  const probs = randomProbRows(rng, 500, c);
  const set = encodeSoftLabels(probs, { numClasses: c, topK: k, precision: 'uint8' });
  assert.ok(set.values instanceof Uint8Array);
  const { values: kept } = sparsifyTopK(probs, c, k);
  const before = dequantizeProbsUint8(set.values);
  assertClose(before, kept, 1 / 510 + 1e-7);

  // After renormalisation, with Σq/255 = 1 + ε, |ε| ≤ k/510:
  // |p̂ − p̃| ≤ (1/510 + p̃ · k/510) / (1 − k/510).
  const decoded = decodeSoftLabels(set);
  const idx = set.indices as Uint8Array;
  let maxErr = 0;
  for (let r = 0; r < 500; r++) {
    for (let j = 0; j < k; j++) {
      const p = kept[r * k + j] as number;
      const got = decoded[r * c + (idx[r * k + j] as number)] as number;
      const bound = (1 / 510 + (p * k) / 510) / (1 - k / 510);
      maxErr = Math.max(maxErr, Math.abs(got - p));
      assert.ok(Math.abs(got - p) <= bound + 1e-7, `row ${r}: ${got} vs ${p}`);
    }
  }
  assert.ok(maxErr <= 0.01, `max uint8 error after renormalisation ${maxErr}`);
  for (const s of rowSums(decoded, c)) assert.ok(Math.abs(s - 1) < 1e-6);
});

test('uint8: a row whose every entry rounds to 0 still decodes (largest entry kept)', () => {
  const c = 1000;
  const probs = new Float32Array(c).fill(1 / c); // 255/1000 rounds to 0 everywhere
  const decoded = decodeSoftLabels(encodeSoftLabels(probs, { numClasses: c, precision: 'uint8' }));
  assert.equal(decoded[0], 1);
  assert.equal(rowSums(decoded, c)[0], 1);
});

test('top-k: KL(reconstructed ‖ original) = −log(top-k mass) + quantisation term; TV = 1 − mass; tighter as k grows', () => {
  // Why this direction: KL(original ‖ reconstructed) is +∞ whenever the
  // original has mass outside the kept classes (reconstructed is 0 there).
  // With p̃ = top-k of p renormalised (mass S) and p̂ the decoded row:
  //   KL(p̂ ‖ p) = Σ p̂ log(p̂/p̃) + Σ p̂ log(p̃/p) = KL(p̂ ‖ p̃) − log S,
  // and 0 ≤ KL(p̂ ‖ p̃) ≤ χ²(p̂ ‖ p̃) = Σ (p̂ − p̃)²/p̃ ≤ Σ b²/p̃ for a per-entry
  // error bound b (float32: ~0; float16: 2^-10·p̃ + 2^-24; uint8: see the uint8 test).
  const rng = mulberry32(5);
  const errBound: Record<SoftLabelPrecision, (p: number, k: number) => number> = {
    float32: (p) => 2 ** -22 * p,
    float16: (p) => 2 ** -10 * p + 2 ** -24,
    uint8: (p, k) => (1 / 510 + (p * k) / 510) / (1 - k / 510),
  };
  const measured: string[] = [];
  for (const c of [10, 100]) {
    const rows = 200;
    const probs = randomProbRows(rng, rows, c);
    const ks = c === 10 ? [1, 2, 3, 5, 8, 10] : [1, 2, 5, 10, 20, 50, 100];
    for (const precision of ['float32', 'float16', 'uint8'] as const) {
      const curve: number[] = [];
      for (const k of ks) {
        const rec = decodeSoftLabels(
          encodeSoftLabels(probs, { numClasses: c, topK: k, precision }),
        );
        const { values: kept } = sparsifyTopK(probs, c, k);
        let total = 0;
        for (let r = 0; r < rows; r++) {
          const off = r * c;
          const mass = topMass(probs, off, c, k);
          let chi2 = 0;
          for (let j = 0; j < k; j++) {
            const p = kept[r * k + j] as number;
            chi2 += errBound[precision](p, k) ** 2 / p;
          }
          const d = kl(rec, probs, off, c);
          total += d;
          const lower = -Math.log(mass);
          const where = `${precision} c=${c} k=${k} row ${r}: KL ${d}, −log S ${lower}, χ² bound ${chi2}`;
          assert.ok(d >= lower - 1e-5, where);
          assert.ok(d <= lower + chi2 + 1e-5, where);
          if (precision === 'float32') {
            let tv = 0;
            for (let j = 0; j < c; j++) {
              tv += Math.abs((rec[off + j] as number) - (probs[off + j] as number));
            }
            assert.ok(Math.abs(tv / 2 - (1 - mass)) <= 1e-5, `TV ${tv / 2} vs ${1 - mass}`);
          }
        }
        curve.push(total / rows);
      }
      measured.push(
        `${precision} c=${c} k=${ks.join('/')}: ${curve.map((x) => x.toExponential(2)).join(' ')}`,
      );
      // The bound gets tighter as k grows (for uint8 the quantisation term grows
      // with k, so only the truncation part, −log S, is required to shrink).
      if (precision !== 'uint8') {
        for (let i = 1; i < curve.length; i++) {
          assert.ok((curve[i] as number) <= (curve[i - 1] as number) + 1e-6, measured.at(-1));
        }
        assert.ok((curve.at(-1) as number) < 1e-5, measured.at(-1));
      } else {
        assert.ok((curve.at(-1) as number) < (curve[0] as number) / 10, measured.at(-1));
      }
    }
  }
  if (process.env.SHOW_KL) console.log(measured.join('\n'));
});

test('codec round trip of a whole set keeps every typed array', () => {
  const rng = mulberry32(6);
  const probs = randomProbRows(rng, 64, 10);
  const codec = createCodec();
  for (const precision of ['float32', 'float16', 'uint8'] as const) {
    const set = encodeSoftLabels(probs, { numClasses: 10, topK: 3, precision });
    const wire = codec.decode(codec.encode(set)) as SoftLabelSet;
    assert.equal(wire.values.constructor, set.values.constructor);
    assert.equal(wire.indices?.constructor, Uint8Array);
    assert.deepEqual(decodeSoftLabels(wire), decodeSoftLabels(set));
  }
  const empty = encodeSoftLabels(new Float32Array(0), { numClasses: 10, topK: 3 });
  assert.equal(decodeSoftLabels(codec.decode(codec.encode(empty))).length, 0);
});

test('encodeSoftLabels rejects bad local input with DistillationInputError', () => {
  const ok = new Float32Array([0.5, 0.5]);
  const bad: [Float32Array, Parameters<typeof encodeSoftLabels>[1]][] = [
    [ok, { numClasses: 0 }],
    [ok, { numClasses: 1.5 }],
    [ok, { numClasses: 70000 }],
    [new Float32Array(3), { numClasses: 2 }],
    [ok, { numClasses: 2, topK: 0 }],
    [ok, { numClasses: 2, topK: 3 }],
    [ok, { numClasses: 2, topK: 1.5 }],
    [new Float32Array([NaN, 1]), { numClasses: 2 }],
    [new Float32Array([-0.1, 1.1]), { numClasses: 2 }],
    [new Float32Array([0, 0]), { numClasses: 2 }],
    [new Float32Array([0, 0]), { numClasses: 2, topK: 1 }],
    [ok, { numClasses: 2, precision: 'float64' as SoftLabelPrecision }],
  ];
  for (const [probs, opts] of bad) {
    assert.throws(
      () => encodeSoftLabels(probs, opts),
      DistillationInputError,
      JSON.stringify(opts),
    );
  }
});

test('decodeSoftLabels rejects hostile sets with typed CodecErrors', () => {
  const base = (): Record<string, unknown> => ({
    format: SOFT_LABEL_FORMAT,
    count: 2,
    numClasses: 4,
    topK: 2,
    precision: 'float32',
    indices: new Uint8Array([1, 2, 2, 0]),
    values: new Float32Array([0.6, 0.4, 0.5, 0.5]),
  });
  assert.equal(decodeSoftLabels(base()).length, 8, 'the base set is valid');
  const cases: [string, (s: Record<string, unknown>) => unknown, CodecErrorCode][] = [
    ['null', () => null, 'wrong-type'],
    ['array', () => [], 'wrong-type'],
    ['string', () => 'soft', 'wrong-type'],
    ['format', (s) => ({ ...s, format: 'fedistill.softlabels/2' }), 'wrong-type'],
    ['no format', (s) => ({ ...s, format: undefined }), 'wrong-type'],
    ['count < 0', (s) => ({ ...s, count: -1 }), 'malformed'],
    ['count fractional', (s) => ({ ...s, count: 1.5 }), 'malformed'],
    ['count string', (s) => ({ ...s, count: '2' }), 'malformed'],
    ['count NaN', (s) => ({ ...s, count: NaN }), 'malformed'],
    ['numClasses 0', (s) => ({ ...s, numClasses: 0 }), 'malformed'],
    ['numClasses huge', (s) => ({ ...s, numClasses: 1e9 }), 'malformed'],
    ['topK 0', (s) => ({ ...s, topK: 0 }), 'malformed'],
    ['topK > C', (s) => ({ ...s, topK: 5 }), 'malformed'],
    ['precision', (s) => ({ ...s, precision: 'float64' }), 'wrong-type'],
    [
      'dense output too large',
      (s) => ({ ...s, count: 2 ** 40, numClasses: 65536, topK: 1 }),
      'too-large',
    ],
    ['values type', (s) => ({ ...s, values: new Float64Array(4) }), 'wrong-type'],
    ['values plain array', (s) => ({ ...s, values: [0.6, 0.4, 0.5, 0.5] }), 'wrong-type'],
    ['values vs precision', (s) => ({ ...s, precision: 'float16' }), 'wrong-type'],
    ['values length', (s) => ({ ...s, values: new Float32Array(3).fill(0.3) }), 'malformed'],
    ['count vs values', (s) => ({ ...s, count: 3 }), 'malformed'],
    ['indices missing', (s) => ({ ...s, indices: undefined }), 'malformed'],
    ['indices type', (s) => ({ ...s, indices: new Int32Array([1, 2, 2, 0]) }), 'wrong-type'],
    ['indices array', (s) => ({ ...s, indices: [1, 2, 2, 0] }), 'wrong-type'],
    ['indices length', (s) => ({ ...s, indices: new Uint8Array([1, 2, 2]) }), 'malformed'],
    ['index out of range', (s) => ({ ...s, indices: new Uint8Array([1, 4, 2, 0]) }), 'malformed'],
    ['index 255', (s) => ({ ...s, indices: new Uint8Array([1, 2, 255, 0]) }), 'malformed'],
    ['repeated index', (s) => ({ ...s, indices: new Uint8Array([1, 1, 2, 0]) }), 'malformed'],
    ['NaN value', (s) => ({ ...s, values: new Float32Array([NaN, 0.4, 0.5, 0.5]) }), 'non-finite'],
    [
      'Inf value',
      (s) => ({ ...s, values: new Float32Array([0.6, Infinity, 0.5, 0.5]) }),
      'non-finite',
    ],
    [
      'negative value',
      (s) => ({ ...s, values: new Float32Array([0.6, -0.4, 0.5, 0.5]) }),
      'malformed',
    ],
    ['zero row', (s) => ({ ...s, values: new Float32Array([0, 0, 0.5, 0.5]) }), 'malformed'],
    [
      'float16 Inf',
      (s) => ({
        ...s,
        precision: 'float16',
        values: new Uint16Array([0x7c00, 0x3800, 0x3800, 0x3800]),
      }),
      'non-finite',
    ],
    [
      'float16 NaN',
      (s) => ({
        ...s,
        precision: 'float16',
        values: new Uint16Array([0x3800, 0x7e00, 0x3800, 0x3800]),
      }),
      'non-finite',
    ],
    [
      'float16 negative',
      (s) => ({
        ...s,
        precision: 'float16',
        values: new Uint16Array([0x3800, 0xb800, 0x3800, 0x3800]),
      }),
      'malformed',
    ],
    [
      'uint8 zero row',
      (s) => ({ ...s, precision: 'uint8', values: new Uint8Array([0, 0, 1, 1]) }),
      'malformed',
    ],
  ];
  for (const [label, mutate, code] of cases) {
    expectCodecError(() => decodeSoftLabels(mutate(base())), code, label);
  }
  // A dense set may omit indices, and the limit is configurable.
  const dense = { ...base(), topK: 4, indices: undefined, values: new Float32Array(8).fill(0.25) };
  assert.equal(decodeSoftLabels(dense).length, 8);
  expectCodecError(() => decodeSoftLabels(dense, { maxElements: 7 }), 'too-large', 'maxElements');
});
