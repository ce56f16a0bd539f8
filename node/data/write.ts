import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeIdx } from '../../shared/data/idx.js';
import type { LabeledData } from '../../shared/data/types.js';
import { DatasetError } from '../../shared/errors.js';

/**
 * Pixels that were uint8 / 255 (what IDX images load as) are written back as uint8, so a
 * written folder is as small as its source and loads to the same float32 values.
 */
function asPixels(x: Float32Array): Uint8Array | undefined {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Math.round((x[i] as number) * 255);
    if (p < 0 || p > 255 || Math.fround(p / 255) !== x[i]) return undefined;
    out[i] = p;
  }
  return out;
}

/**
 * Writes a labelled dataset into `dir` as an IDX pair that {@link loadDataSource} reads
 * back exactly: `<prefix>images-idxN-ubyte` (uint8 when every value is a uint8 pixel / 255,
 * float32 otherwise; `[h, w, 1]` samples as `[n, h, w]`) and `<prefix>labels-idx1-ubyte`.
 * Returns the two file names.
 */
export function writeIdxDataset(
  dir: string,
  data: LabeledData,
  inputShape: readonly number[],
  prefix = '',
): [string, string] {
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (data.x.length !== data.count * size || data.y.length !== data.count) {
    throw new DatasetError(
      `writeIdxDataset: ${data.count} rows of ${inputShape.join('×')} do not match ${data.x.length} values`,
    );
  }
  const sample =
    inputShape.length === 3 && inputShape[2] === 1 ? inputShape.slice(0, 2) : [...inputShape];
  const dims = [data.count, ...sample];
  const pixels = asPixels(data.x);
  const images = `${prefix}images-idx${dims.length}-ubyte`;
  const labels = `${prefix}labels-idx1-ubyte`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, images), encodeIdx(dims, pixels ?? data.x));
  const y = data.y instanceof Uint8Array ? data.y : Int32Array.from(data.y);
  writeFileSync(join(dir, labels), encodeIdx([data.count], y));
  return [images, labels];
}
