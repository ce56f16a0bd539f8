import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

function withPath<T>(path: string, read: () => T): T {
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

export interface DataDirOptions {
  /** Passed to parseCsv for data.csv. Defaults to parseCsv's defaults (label in column 0, header auto). */
  csv: Readonly<Partial<CsvOptions>>;
  /** Passed to idxToLabeledData for IDX pairs. Defaults to dividing by 255. */
  idx: Readonly<Partial<IdxToDataOptions>>;
}

const IDX_IMAGES = /images?.*idx\d-ubyte(\.gz)?$/i;
const IDX_LABELS = /labels?.*idx1-ubyte(\.gz)?$/i;
const CSV_NAMES = ['data.csv', 'data.csv.gz'];

/**
 * A client's private data folder: either one IDX pair (`*images*-idx3-ubyte[.gz]`
 * and `*labels*-idx1-ubyte[.gz]`; with several pairs, as in a full MNIST download,
 * the `train` pair) or `data.csv[.gz]`. DatasetError when the folder has neither,
 * or both, naming what it found.
 */
export function loadDataDir(
  dir: string,
  options: Readonly<Partial<DataDirOptions>> = {},
): LabeledData {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => statSync(join(dir, name)).isFile());
  } catch (err) {
    throw new DatasetError(`cannot read data folder ${dir}: ${(err as Error).message}`);
  }
  const images = names.filter((n) => IDX_IMAGES.test(n)).sort();
  const labels = names.filter((n) => IDX_LABELS.test(n)).sort();
  const csv = names.filter((n) => CSV_NAMES.includes(n.toLowerCase()));
  const pairs: [string, string][] = [];
  for (const image of images) {
    const prefix = image.slice(0, image.search(/images?/i));
    const match = labels.filter((l) => l.slice(0, l.search(/labels?/i)) === prefix);
    if (match.length === 1) pairs.push([image, match[0] as string]);
  }
  if (pairs.length > 0 && csv.length > 0) {
    throw new DatasetError(
      `data folder ${dir} holds both an IDX pair and ${csv[0]}: keep one source`,
    );
  }
  if (csv.length > 1)
    throw new DatasetError(`data folder ${dir} holds ${csv.join(' and ')}: keep one`);
  if (csv.length === 1) return readCsvFile(join(dir, csv[0] as string), options.csv);

  let pair = pairs.length === 1 ? pairs[0] : undefined;
  if (pairs.length > 1) {
    const train = pairs.filter(([image]) => /^train/i.test(image));
    if (train.length === 1) pair = train[0];
    else {
      throw new DatasetError(
        `data folder ${dir} holds ${pairs.length} IDX pairs (${pairs.map((p) => p[0]).join(', ')}); keep one`,
      );
    }
  }
  if (pair === undefined) {
    const seen = names.length === 0 ? 'nothing' : names.slice(0, 10).join(', ');
    throw new DatasetError(
      `data folder ${dir} has no dataset: expected *images*-idx3-ubyte[.gz] with ` +
        `*labels*-idx1-ubyte[.gz], or data.csv; found ${seen}`,
    );
  }
  return readIdxFiles(join(dir, pair[0]), join(dir, pair[1]), options.idx);
}
