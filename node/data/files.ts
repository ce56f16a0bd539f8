import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parseCsv } from '../../shared/data/csv.js';
import type { CsvOptions } from '../../shared/data/csv.js';
import { idxToLabeledData, parseIdx } from '../../shared/data/idx.js';
import type { IdxToDataOptions } from '../../shared/data/idx.js';
import type { LabeledData } from '../../shared/data/types.js';
import { DatasetError } from '../../shared/errors.js';

/** Largest decompressed file accepted (a gzip bomb stops here). */
const MAX_BYTES = 2 ** 31 - 1;

/** A file's bytes, gunzipped when it starts with the gzip magic 0x1f 0x8b (whatever its name). */
export function readMaybeGzip(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DatasetError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes, { maxOutputLength: MAX_BYTES });
    } catch (err) {
      throw new DatasetError(`cannot gunzip ${path}: ${(err as Error).message}`);
    }
  }
  return bytes;
}

/** Runs `read`; a DatasetError from it that does not name `path` is thrown again naming it. */
export function withPath<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof DatasetError && !err.message.includes(path)) {
      throw new DatasetError(`${path}: ${err.message}`);
    }
    throw err;
  }
}

/** An IDX images file and its labels file (each optionally gzipped) as LabeledData. */
export function readIdxFiles(
  imagesPath: string,
  labelsPath: string,
  options: Readonly<Partial<IdxToDataOptions>> = {},
): LabeledData {
  const images = withPath(imagesPath, () => parseIdx(readMaybeGzip(imagesPath)));
  const labels = withPath(labelsPath, () => parseIdx(readMaybeGzip(labelsPath)));
  return withPath(`${imagesPath} + ${labelsPath}`, () => idxToLabeledData(images, labels, options));
}

/** A numeric CSV file (optionally gzipped), see parseCsv. Errors name the file and line. */
export function readCsvFile(
  path: string,
  options: Readonly<Partial<CsvOptions>> = {},
): LabeledData {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(readMaybeGzip(path));
  return withPath(path, () => parseCsv(text, options));
}
