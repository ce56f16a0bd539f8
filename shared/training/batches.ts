/** Host-side batch assembly shared by training and inference. */
import { DatasetError } from '../errors.js';

/** Copies rows `rows` of a row-major `[n, rowSize]` array into the front of `dst`. */
export function gatherRows(
  src: Float32Array,
  rowSize: number,
  rows: ArrayLike<number>,
  dst: Float32Array,
): void {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] ?? 0;
    dst.set(src.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
  }
}

/** Checks that `x` holds exactly `count` rows of `featureSize` values. */
export function checkFeatures(
  what: string,
  x: Float32Array,
  count: number,
  featureSize: number,
): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new DatasetError(`${what}: count ${count} is not a non-negative integer`);
  }
  if (x.length !== count * featureSize) {
    throw new DatasetError(
      `${what}: features have ${x.length} values, expected ${count} × ${featureSize} = ${count * featureSize}`,
    );
  }
}
