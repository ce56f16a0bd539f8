import { DatasetError } from '../errors.js';
import type { Rng } from './rng.js';
import type { LabeledData } from './types.js';

/**
 * Features per sample (`x.length / count`), checking that x and y agree with
 * `count`. An empty dataset has no defined feature size: pass `featureSize`.
 */
export function featureSizeOf(data: LabeledData, featureSize?: number): number {
  if (!Number.isInteger(data.count) || data.count < 0) {
    throw new DatasetError(`dataset count must be a non-negative integer, got ${data.count}`);
  }
  if (data.y.length !== data.count) {
    throw new DatasetError(`dataset has ${data.y.length} labels for count ${data.count}`);
  }
  const size = featureSize ?? (data.count === 0 ? 0 : data.x.length / data.count);
  if (!Number.isInteger(size) || size < 0 || data.x.length !== size * data.count) {
    throw new DatasetError(
      `dataset x has ${data.x.length} values, not count ${data.count} × featureSize ${size}`,
    );
  }
  return size;
}

export interface CheckDataOptions {
  /** Labels must be below this. Defaults to no upper bound. */
  numClasses: number;
  /** Values per sample required. Defaults to `x.length / count`. */
  featureSize: number;
  /** Reject NaN and ±Infinity in x (one pass over x). Defaults to true. */
  finite: boolean;
}

/**
 * Validates a dataset from outside (a file, a peer): consistent lengths,
 * integer labels in range, finite features. Throws DatasetError naming the
 * first offending value; returns the feature size.
 */
export function checkLabeledData(
  data: LabeledData,
  options: Readonly<Partial<CheckDataOptions>> = {},
): number {
  const size = featureSizeOf(data, options.featureSize);
  const numClasses = options.numClasses ?? Infinity;
  for (let i = 0; i < data.count; i++) {
    const y = data.y[i] as number;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new DatasetError(
        `label ${y} at row ${i} is outside 0..${numClasses === Infinity ? '' : numClasses - 1}`,
      );
    }
  }
  if (options.finite ?? true) {
    for (let i = 0; i < data.x.length; i++) {
      if (!Number.isFinite(data.x[i])) {
        throw new DatasetError(
          `feature ${i % size} of row ${Math.floor(i / size)} is ${data.x[i]}; features must be finite`,
        );
      }
    }
  }
  return size;
}

function labelArray(length: number, maxLabel: number): Uint8Array | Int32Array {
  return maxLabel < 256 ? new Uint8Array(length) : new Int32Array(length);
}

/**
 * The rows at `indices`, copied, in that order (repeats allowed).
 * Labels keep the input's array type.
 *
 * @param featureSize values per row. Defaults to `x.length / count`.
 */
export function subset(
  data: LabeledData,
  indices: ArrayLike<number>,
  featureSize?: number,
): LabeledData {
  const size = featureSizeOf(data, featureSize);
  const count = indices.length;
  const x = new Float32Array(count * size);
  const y = data.y instanceof Uint8Array ? new Uint8Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const row = indices[i] as number;
    if (!Number.isInteger(row) || row < 0 || row >= data.count) {
      throw new DatasetError(`subset index ${row} (position ${i}) is outside 0..${data.count - 1}`);
    }
    x.set(data.x.subarray(row * size, (row + 1) * size), i * size);
    y[i] = data.y[row] as number;
  }
  return { x, y, count };
}

/** Rows of every part, in order. Labels are Uint8Array when every part's are and they fit. */
export function concatData(parts: readonly LabeledData[]): LabeledData {
  if (parts.length === 0) throw new DatasetError('concatData needs at least one dataset');
  let size: number | undefined;
  let count = 0;
  let maxLabel = 0;
  let allBytes = true;
  parts.forEach((part, p) => {
    const partSize = featureSizeOf(part, part.count === 0 ? 0 : undefined);
    if (part.count > 0) {
      if (size !== undefined && partSize !== size) {
        throw new DatasetError(
          `concatData: dataset ${p} has ${partSize} features per row, the first has ${size}`,
        );
      }
      size = partSize;
    }
    count += part.count;
    if (!(part.y instanceof Uint8Array)) allBytes = false;
    for (let i = 0; i < part.y.length; i++) maxLabel = Math.max(maxLabel, part.y[i] as number);
  });
  const featureSize = size ?? 0;
  const x = new Float32Array(count * featureSize);
  const y = allBytes ? new Uint8Array(count) : labelArray(count, maxLabel);
  let offset = 0;
  for (const part of parts) {
    if (part.count === 0) continue;
    x.set(part.x, offset * featureSize);
    y.set(part.y, offset);
    offset += part.count;
  }
  return { x, y, count };
}

/**
 * Size of one part of a split: a count (integer), a fraction of the whole
 * (non-integer in (0,1)) or `'rest'` (what the other parts leave; at most one part).
 */
export type SplitSize = number | 'rest';

/**
 * Shuffles `0..n-1` with `rng` and cuts consecutive runs, one per named part, in
 * the order of the keys. Sizes are all counts (integers) or all fractions (any
 * non-integer value switches to fractions, each in [0,1]); one part may be
 * `'rest'`. Fractions that sum to 1 cover every index (rounded by largest
 * remainder); otherwise what is left over belongs to no part. Each part's indices
 * stay in shuffled order.
 */
export function splitIndices<K extends string>(
  n: number,
  sizes: Readonly<Record<K, SplitSize>>,
  rng: Rng,
): Record<K, Int32Array> {
  if (!Number.isInteger(n) || n < 0) {
    throw new DatasetError(`splitIndices: n must be a non-negative integer, got ${n}`);
  }
  const names = Object.keys(sizes) as K[];
  if (names.length === 0) throw new DatasetError('split needs at least one part');
  const restNames = names.filter((k) => sizes[k] === 'rest');
  if (restNames.length > 1) {
    throw new DatasetError(`only one split part may be 'rest', got ${restNames.join(', ')}`);
  }
  const numeric = names.filter((k) => sizes[k] !== 'rest');
  for (const k of numeric) {
    const v = sizes[k] as number;
    if (!Number.isFinite(v) || v < 0) {
      throw new DatasetError(`split size of '${k}' must be a finite number ≥ 0, got ${v}`);
    }
  }
  const fractions = numeric.some((k) => !Number.isInteger(sizes[k]));
  const counts = new Map<K, number>();
  if (fractions) {
    let sum = 0;
    for (const k of numeric) {
      const v = sizes[k] as number;
      if (v > 1) {
        throw new DatasetError(
          `split sizes mix counts and fractions: '${k}' is ${v}; use all integers or all fractions ≤ 1`,
        );
      }
      sum += v;
    }
    if (sum > 1 + 1e-9) throw new DatasetError(`split fractions sum to ${sum} > 1`);
    const ideal = numeric.map((k) => (sizes[k] as number) * n);
    const floors = ideal.map(Math.floor);
    // Fractions summing to 1 must cover everything: hand the rounding leftovers out.
    if (Math.abs(sum - 1) <= 1e-9 && restNames.length === 0) {
      let left = n - floors.reduce((a, b) => a + b, 0);
      const byRemainder = ideal
        .map((v, i) => ({ i, r: v - (floors[i] as number) }))
        .sort((a, b) => b.r - a.r || a.i - b.i);
      for (const { i } of byRemainder) {
        if (left <= 0) break;
        floors[i] = (floors[i] as number) + 1;
        left--;
      }
    }
    numeric.forEach((k, i) => counts.set(k, floors[i] as number));
  } else {
    for (const k of numeric) counts.set(k, sizes[k] as number);
  }
  const used = [...counts.values()].reduce((a, b) => a + b, 0);
  if (used > n) {
    throw new DatasetError(
      `split asks for ${used} samples (${numeric.map((k) => `${k} ${counts.get(k)}`).join(', ')}) ` +
        `but there are ${n}`,
    );
  }
  for (const k of restNames) counts.set(k, n - used);

  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const result = {} as Record<K, Int32Array>;
  let offset = 0;
  for (const k of names) {
    const c = counts.get(k) as number;
    result[k] = order.slice(offset, offset + c);
    offset += c;
  }
  return result;
}

/**
 * Splits a dataset into disjoint named parts (e.g. teacher-train / proxy /
 * clients / test), sizes as in {@link splitIndices}. Rows are copied.
 */
export function splitDataset<K extends string>(
  data: LabeledData,
  sizes: Readonly<Record<K, SplitSize>>,
  rng: Rng,
): Record<K, LabeledData> {
  const size = featureSizeOf(data);
  const indices = splitIndices(data.count, sizes, rng);
  const result = {} as Record<K, LabeledData>;
  for (const k of Object.keys(indices) as K[]) result[k] = subset(data, indices[k], size);
  return result;
}

/** One-hot rows `[labels.length, numClasses]`, row-major. */
export function oneHot(labels: ArrayLike<number>, numClasses: number): Float32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new DatasetError(`oneHot: numClasses must be an integer ≥ 1, got ${numClasses}`);
  }
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new DatasetError(`oneHot: label ${y} at row ${i} is outside 0..${numClasses - 1}`);
    }
    out[i * numClasses + y] = 1;
  }
  return out;
}
