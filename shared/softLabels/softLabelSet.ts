/**
 * Compact wire form of a teacher's soft labels over the whole proxy set.
 *
 * The coordinator computes `softmax(teacherLogits / T)` on the proxy set once
 * per teacher version and every client downloads it, so the size matters:
 * top-k sparsification drops the tail of each row, and float16 / uint8
 * quantisation halves or quarters the rest. The result is a plain object of
 * numbers, strings and typed arrays, so msgpackr (`moreTypes: true`) carries
 * it without any custom extension.
 *
 * Error bounds of a decoded row versus the encoder's input row p (k kept
 * classes, S = mass of the k largest entries of p, p̃ = those entries / S):
 * - top-k alone: the decoded row is exactly p̃ (up to float32 rounding);
 *   KL(p̃ ‖ p) = −log S and total variation TV(p̃, p) = 1 − S, both shrinking
 *   to 0 as k → C. (KL(p ‖ p̃) is infinite whenever p has mass outside the
 *   kept classes, which is why the bound is stated in this direction.)
 * - float16: before renormalisation each kept value has relative error
 *   ≤ 2^-11 (absolute ≤ 2^-25 below 2^-14); after renormalisation the relative
 *   error is ≤ ~2^-10 ≈ 9.8e-4.
 * - uint8: before renormalisation each kept value is within 1/510 of p̃;
 *   renormalisation moves it by at most a further k/510 · p̃ (relative).
 */
import { CodecError, DistillationInputError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import { dequantizeProbsUint8, quantizeProbsUint8 } from './quantize.js';

/** The format tag every encoded set carries; bumped on incompatible changes. */
export const SOFT_LABEL_FORMAT = 'fedistill.softlabels/1';

/** How each kept probability is stored. */
export type SoftLabelPrecision = 'float32' | 'float16' | 'uint8';

export const SOFT_LABEL_PRECISIONS: readonly SoftLabelPrecision[] = ['float32', 'float16', 'uint8'];

/** The most classes a set can describe (class indices travel as uint16). */
export const MAX_SOFT_LABEL_CLASSES = 65536;

/**
 * A whole proxy set's soft labels in wire form.
 *
 * - `values` is row-major [count, topK]: for precision 'float32' a
 *   Float32Array of probabilities, 'float16' a Uint16Array of half bit
 *   patterns, 'uint8' a Uint8Array of round(p · 255). Each row holds the kept
 *   probabilities already renormalised over the kept classes.
 * - `indices` (present when topK < numClasses) is row-major [count, topK]:
 *   the class index of each value, Uint8Array when numClasses ≤ 256 else
 *   Uint16Array. Within a row, entries are ordered by decreasing probability.
 *   Without `indices` the row is dense in class order.
 */
export interface SoftLabelSet {
  format: typeof SOFT_LABEL_FORMAT;
  count: number;
  numClasses: number;
  topK: number;
  precision: SoftLabelPrecision;
  indices?: Uint8Array | Uint16Array;
  values: Float32Array | Uint16Array | Uint8Array;
}

export interface EncodeSoftLabelsOptions {
  /** Classes per row (C). Required. */
  numClasses: number;
  /** Keep only the k most probable classes of each row. Defaults to numClasses (dense). */
  topK?: number;
  /** Storage of each kept probability. Defaults to 'float16'. */
  precision?: SoftLabelPrecision;
}

export interface DecodeSoftLabelsOptions {
  /**
   * Largest dense output accepted, in float32 elements (count · numClasses).
   * A sparse set is small on the wire but expands by numClasses / topK, so a
   * peer could otherwise make us allocate gigabytes. Defaults to 2^26
   * (256 MiB of float32).
   */
  maxElements: number;
}

const DEFAULT_DECODE_OPTIONS: DecodeSoftLabelsOptions = { maxElements: 2 ** 26 };

/**
 * Top-k sparsification with renormalisation, row by row.
 *
 * @param probs row-major [n, numClasses] PROBABILITIES (non-negative, finite,
 *   each row with a positive sum; rows need not sum exactly to 1).
 * @returns `indices` and `values`, both row-major [n, k]: the k largest
 *   entries of each row in decreasing order (ties: lower class index first),
 *   values divided by their row's kept mass so each row sums to 1.
 * @throws DistillationInputError on bad shapes or values.
 */
export function sparsifyTopK(
  probs: Float32Array,
  numClasses: number,
  k: number,
): { indices: Uint16Array; values: Float32Array } {
  const count = checkProbs(probs, numClasses, 'sparsifyTopK');
  if (!Number.isInteger(k) || k < 1 || k > numClasses) {
    throw new DistillationInputError(
      `sparsifyTopK: k must be an integer in [1, ${numClasses}], got ${k}`,
    );
  }
  const indices = new Uint16Array(count * k);
  const values = new Float32Array(count * k);
  const order = new Int32Array(numClasses);
  for (let r = 0; r < count; r++) {
    const base = r * numClasses;
    for (let j = 0; j < numClasses; j++) order[j] = j;
    const byProbDesc = (a: number, b: number): number =>
      (probs[base + b] as number) - (probs[base + a] as number) || a - b;
    order.sort(byProbDesc);
    let kept = 0;
    for (let j = 0; j < k; j++) kept += probs[base + (order[j] as number)] as number;
    if (!(kept > 0)) {
      throw new DistillationInputError(`sparsifyTopK: row ${r} has no probability mass`);
    }
    for (let j = 0; j < k; j++) {
      const cls = order[j] as number;
      indices[r * k + j] = cls;
      values[r * k + j] = (probs[base + cls] as number) / kept;
    }
  }
  return { indices, values };
}

/**
 * Encodes a proxy set's soft labels for the wire.
 *
 * @param probs row-major [count, numClasses] PROBABILITIES (e.g. the output
 *   of softmaxWithTemperature); non-negative and finite, each row with a
 *   positive sum (rows are renormalised, so exact sums are not required).
 * @throws DistillationInputError on bad shapes, options or values.
 */
export function encodeSoftLabels(
  probs: Float32Array,
  opts: Readonly<EncodeSoftLabelsOptions>,
): SoftLabelSet {
  const { numClasses } = opts;
  const topK = opts.topK ?? numClasses;
  const precision = opts.precision ?? 'float16';
  if (!SOFT_LABEL_PRECISIONS.includes(precision)) {
    throw new DistillationInputError(`encodeSoftLabels: unknown precision ${String(precision)}`);
  }
  const count = checkProbs(probs, numClasses, 'encodeSoftLabels');
  if (!Number.isInteger(topK) || topK < 1 || topK > numClasses) {
    throw new DistillationInputError(
      `encodeSoftLabels: topK must be an integer in [1, ${numClasses}], got ${topK}`,
    );
  }

  let kept: Float32Array;
  let indices: Uint8Array | Uint16Array | undefined;
  if (topK < numClasses) {
    const sparse = sparsifyTopK(probs, numClasses, topK);
    kept = sparse.values;
    indices = numClasses <= 256 ? Uint8Array.from(sparse.indices) : sparse.indices;
  } else {
    kept = new Float32Array(probs.length);
    for (let r = 0; r < count; r++) {
      const base = r * numClasses;
      let sum = 0;
      for (let j = 0; j < numClasses; j++) sum += probs[base + j] as number;
      if (!(sum > 0)) {
        throw new DistillationInputError(`encodeSoftLabels: row ${r} has no probability mass`);
      }
      for (let j = 0; j < numClasses; j++) kept[base + j] = (probs[base + j] as number) / sum;
    }
  }

  let values: Float32Array | Uint16Array | Uint8Array;
  if (precision === 'float32') {
    values = kept;
  } else if (precision === 'float16') {
    values = float32ToFloat16(kept);
  } else {
    const q = quantizeProbsUint8(kept);
    // A row of many tiny probabilities could round to all zeros and become
    // undecodable; its largest entry (≥ 1/topK > 0) is kept at least at 1/255.
    for (let r = 0; r < count; r++) {
      const base = r * topK;
      let best = base;
      let any = false;
      for (let j = base; j < base + topK; j++) {
        if ((q[j] as number) > 0) any = true;
        if ((kept[j] as number) > (kept[best] as number)) best = j;
      }
      if (!any) q[best] = 1;
    }
    values = q;
  }

  const set: SoftLabelSet = {
    format: SOFT_LABEL_FORMAT,
    count,
    numClasses,
    topK,
    precision,
    values,
  };
  if (indices) set.indices = indices;
  return set;
}

/**
 * Decodes (and fully validates) a soft-label set that came from a peer.
 *
 * @param set anything; typically the output of the codec's `decode`.
 * @returns dense row-major [count, numClasses] PROBABILITIES, each row
 *   renormalised to sum to 1 (classes dropped by top-k are exactly 0).
 * @throws CodecError — 'wrong-type' (not an object, unknown format tag or
 *   precision, wrong typed-array type), 'malformed' (bad counts, lengths,
 *   class index out of range or repeated within a row, negative values, a row
 *   with no mass), 'non-finite' (NaN / ±Infinity), 'too-large' (dense output
 *   over `maxElements`).
 */
export function decodeSoftLabels(
  set: SoftLabelSet | unknown,
  options: Readonly<Partial<DecodeSoftLabelsOptions>> = {},
): Float32Array {
  const { maxElements } = { ...DEFAULT_DECODE_OPTIONS, ...options };
  if (typeof set !== 'object' || set === null || Array.isArray(set)) {
    throw new CodecError('soft labels: expected an object', 'wrong-type');
  }
  const s = set as Record<string, unknown>;
  if (s.format !== SOFT_LABEL_FORMAT) {
    throw new CodecError(
      `soft labels: unknown format ${JSON.stringify(s.format)}, expected ${SOFT_LABEL_FORMAT}`,
      'wrong-type',
    );
  }
  const { count, numClasses, topK, precision, values, indices } = s;
  if (!isIntIn(count, 0, Number.MAX_SAFE_INTEGER)) {
    throw new CodecError(`soft labels: bad count ${String(count)}`, 'malformed');
  }
  if (!isIntIn(numClasses, 1, MAX_SOFT_LABEL_CLASSES)) {
    throw new CodecError(`soft labels: bad numClasses ${String(numClasses)}`, 'malformed');
  }
  if (!isIntIn(topK, 1, numClasses)) {
    throw new CodecError(
      `soft labels: topK ${String(topK)} not in [1, numClasses=${numClasses}]`,
      'malformed',
    );
  }
  if (!SOFT_LABEL_PRECISIONS.includes(precision as SoftLabelPrecision)) {
    throw new CodecError(`soft labels: unknown precision ${String(precision)}`, 'wrong-type');
  }
  if (count * numClasses > maxElements) {
    throw new CodecError(
      `soft labels: ${count}×${numClasses} dense values exceed the limit of ${maxElements}`,
      'too-large',
    );
  }
  const expectedLength = count * topK;

  // Values: type must match the declared precision; decode into float64-safe floats.
  let raw: Float32Array;
  if (precision === 'float32') {
    if (!(values instanceof Float32Array)) throw wrongArray('values', 'Float32Array', values);
    checkLength('values', values.length, expectedLength);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (!Number.isFinite(v)) {
        throw new CodecError(`soft labels: values[${i}] is ${v}`, 'non-finite');
      }
      if (v < 0) throw new CodecError(`soft labels: values[${i}] = ${v} < 0`, 'malformed');
    }
    raw = values;
  } else if (precision === 'float16') {
    if (!(values instanceof Uint16Array)) throw wrongArray('values', 'Uint16Array', values);
    checkLength('values', values.length, expectedLength);
    for (let i = 0; i < values.length; i++) {
      const h = values[i] as number;
      if ((h & 0x7c00) === 0x7c00) {
        throw new CodecError(
          `soft labels: values[${i}] is not finite (half 0x${h.toString(16)})`,
          'non-finite',
        );
      }
      if ((h & 0x8000) !== 0 && (h & 0x7fff) !== 0) {
        throw new CodecError(`soft labels: values[${i}] is negative`, 'malformed');
      }
    }
    raw = float16ToFloat32(values);
  } else {
    if (!(values instanceof Uint8Array)) throw wrongArray('values', 'Uint8Array', values);
    checkLength('values', values.length, expectedLength);
    raw = dequantizeProbsUint8(values);
  }

  // Indices: required when sparse; when present they must be a valid class
  // index, distinct within each row.
  let idx: Uint8Array | Uint16Array | undefined;
  if (indices !== undefined) {
    if (!(indices instanceof Uint8Array || indices instanceof Uint16Array)) {
      throw wrongArray('indices', 'Uint8Array or Uint16Array', indices);
    }
    checkLength('indices', indices.length, expectedLength);
    idx = indices;
  } else if (topK < numClasses) {
    throw new CodecError(
      `soft labels: topK ${topK} < numClasses ${numClasses} but no indices`,
      'malformed',
    );
  }

  const out = new Float32Array(count * numClasses);
  // seen[c] === r + 1 ⇔ class c already appeared in row r (no per-row clearing).
  const seen = idx ? new Uint32Array(numClasses) : undefined;
  for (let r = 0; r < count; r++) {
    const base = r * topK;
    let sum = 0;
    for (let j = base; j < base + topK; j++) sum += raw[j] as number;
    if (!(sum > 0)) throw new CodecError(`soft labels: row ${r} has no mass`, 'malformed');
    const outBase = r * numClasses;
    for (let j = 0; j < topK; j++) {
      let cls = j;
      if (idx && seen) {
        cls = idx[base + j] as number;
        if (cls >= numClasses) {
          throw new CodecError(
            `soft labels: row ${r} class index ${cls} ≥ numClasses ${numClasses}`,
            'malformed',
          );
        }
        if (seen[cls] === r + 1) {
          throw new CodecError(`soft labels: row ${r} repeats class ${cls}`, 'malformed');
        }
        seen[cls] = r + 1;
      }
      out[outBase + cls] = (raw[base + j] as number) / sum;
    }
  }
  return out;
}

function checkProbs(probs: Float32Array, numClasses: number, where: string): number {
  if (!(probs instanceof Float32Array)) {
    throw new DistillationInputError(`${where}: probs must be a Float32Array`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > MAX_SOFT_LABEL_CLASSES) {
    throw new DistillationInputError(
      `${where}: numClasses must be an integer in [1, ${MAX_SOFT_LABEL_CLASSES}], got ${numClasses}`,
    );
  }
  if (probs.length % numClasses !== 0) {
    throw new DistillationInputError(
      `${where}: probs length ${probs.length} is not a multiple of numClasses ${numClasses}`,
    );
  }
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (!Number.isFinite(p) || p < 0) {
      throw new DistillationInputError(
        `${where}: probs[${i}] = ${p} (row ${Math.floor(i / numClasses)}) is not a finite probability ≥ 0`,
      );
    }
  }
  return probs.length / numClasses;
}

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function checkLength(field: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new CodecError(
      `soft labels: ${field} has length ${actual}, expected count·topK = ${expected}`,
      'malformed',
    );
  }
}

function wrongArray(field: string, expected: string, got: unknown): CodecError {
  const name =
    typeof got === 'object' && got !== null ? (got.constructor?.name ?? 'object') : typeof got;
  return new CodecError(`soft labels: ${field} must be a ${expected}, got ${name}`, 'wrong-type');
}
