/**
 * A simulation's data: samples of the configured source (the embedded MNIST digits,
 * a named dataset such as Fashion-MNIST, or a data folder) split into teacher-train /
 * public proxy / client pool / test (fixed by `data.seed`, so every run seed and
 * strategy shares one teacher and one test set), and the client pool dealt out to the
 * virtual clients by the configured partitioner (seeded by the run seed).
 */
import {
  createRng,
  deriveSeed,
  labelSkew,
  partitionByScheme,
  splitDataset,
  subset,
} from '../shared/data/index.js';
import type { LabelSkewSummary } from '../shared/data/index.js';
import type { LabeledData } from '../shared/data/types.js';
import type { DataSourceOptions, LoadedData } from '../node/data/index.js';
import {
  checkFitsModel,
  checkSameShape,
  EMBEDDED_MNIST,
  loadDataSource,
  loadMnist,
  MNIST_TOTAL,
  requireLabels,
} from '../node/data/index.js';
import type { ModelSpec } from '../shared/models/index.js';
import type { SimConfig } from './config.js';

export interface SimSplit {
  teacherTrain: LabeledData;
  proxy: LabeledData;
  clientPool: LabeledData;
  test: LabeledData;
  inputShape: number[];
  numClasses: number;
  /** Class names by label index, when the source names them (image class folders). */
  classNames?: string[];
  /** Where the samples came from, for logs and reports. */
  origin: string;
}

function sourceOptions(config: SimConfig): Partial<DataSourceOptions> {
  const csv = config.data.csv;
  return {
    labels: 'required',
    ...(config.data.images ? { imageChannels: config.data.images.channels } : {}),
    ...(csv
      ? {
          csv: { labelColumn: csv.labelColumn, normalize: csv.normalize },
          ...(csv.shape ? { csvShape: csv.shape } : {}),
        }
      : {}),
  };
}

/** `count` rows of `data` in a seeded random order (all of them when count is its size). */
function sample(data: LoadedData, count: number, seed: number, role: string): LabeledData {
  const labelled = requireLabels(data, role);
  if (count > data.count) {
    throw new Error(
      `simulation config data: ${role} asks for ${count} samples but ${data.origin} holds ${data.count}`,
    );
  }
  const order = createRng(seed).shuffle(Int32Array.from({ length: data.count }, (_, i) => i));
  return subset(labelled, order.subarray(0, count));
}

export function splitSimData(config: SimConfig): SimSplit {
  const { split, total, seed } = config.data;
  const embedded = config.data.source === EMBEDDED_MNIST;
  let all: LabeledData;
  let source: LoadedData;
  if (embedded) {
    // The embedded digits keep their own seeded order, as every earlier result used.
    if (total > MNIST_TOTAL) {
      throw new Error(
        `simulation config data.total: ${total} is more than the ${MNIST_TOTAL} embedded MNIST digits`,
      );
    }
    all = loadMnist({ count: total, seed });
    source = loadDataSource(EMBEDDED_MNIST, { mnistCount: total, mnistSeed: seed });
  } else {
    source = loadDataSource(config.data.source, sourceOptions(config));
    all = sample(source, total, seed, 'data.source');
  }
  const testSource =
    config.data.testSource !== undefined
      ? loadDataSource(config.data.testSource, sourceOptions(config))
      : undefined;
  const sizes: Record<string, number> = testSource
    ? { teacherTrain: split.teacher, proxy: split.proxy, clientPool: split.clients }
    : {
        teacherTrain: split.teacher,
        proxy: split.proxy,
        clientPool: split.clients,
        test: split.test,
      };
  const parts: Partial<Record<string, LabeledData>> = splitDataset(all, sizes, createRng(seed));
  let test = parts.test;
  if (testSource) {
    checkSameShape([
      { role: 'data.source', data: source },
      { role: 'data.testSource', data: testSource },
    ]);
    test = sample(testSource, Math.floor(split.test * total), seed + 1, 'data.testSource');
  }
  // With a test source, the test share of the subsample is drawn from it instead.
  const used = Object.values(parts).reduce((n, part) => n + (part?.count ?? 0), 0);
  const numClasses = Math.max(source.numClasses, testSource?.numClasses ?? 0, 2);
  const classNames = source.classNames ?? testSource?.classNames;
  if (
    source.classNames &&
    testSource?.classNames &&
    source.classNames.join('\n') !== testSource.classNames.join('\n')
  ) {
    throw new Error(
      `simulation config data: ${config.data.source} and data.testSource ${config.data.testSource} name different classes ` +
        `(${source.classNames.join(', ')} / ${testSource.classNames.join(', ')}); labels come from sorted class folder names`,
    );
  }
  return {
    teacherTrain: parts.teacherTrain!,
    proxy: parts.proxy!,
    clientPool: parts.clientPool!,
    test: test!,
    inputShape: [...source.inputShape],
    numClasses,
    ...(classNames ? { classNames: [...classNames] } : {}),
    origin: embedded
      ? `embedded MNIST, ${total.toLocaleString('en')} real digits`
      : `${config.data.source}, ${used.toLocaleString('en')} of its ${source.count.toLocaleString('en')} samples` +
        (testSource
          ? `; test from ${config.data.testSource} (${test!.count.toLocaleString('en')} of ${testSource.count.toLocaleString('en')})`
          : '') +
        (classNames ? `; classes ${describeClassNames(classNames)}` : ''),
  };
}

/** `0 cat, 1 dog, …` (the first 20). */
function describeClassNames(names: readonly string[]): string {
  const shown = names.slice(0, 20).map((name, i) => `${i} ${name}`);
  return names.length > 20 ? `${shown.join(', ')}, … ${names.length - 20} more` : shown.join(', ');
}

export interface Partition {
  shards: LabeledData[];
  skew: LabelSkewSummary;
}

/** The client pool dealt to `config.clients` clients for run seed `seed`. */
export function partitionClients(
  config: SimConfig,
  pool: LabeledData,
  seed: number,
  numClasses = 10,
): Partition {
  const rng = createRng(deriveSeed(seed, 'partition', 17));
  const indices = partitionByScheme(pool.y, config.clients, config.partition, rng);
  return {
    shards: indices.map((rows) => subset(pool, rows)),
    skew: labelSkew(pool.y, indices, numClasses),
  };
}

/** Each configured model (by its config field) must take the data's samples and classes. */
export function checkSpecsFitData(split: SimSplit, specs: readonly [string, ModelSpec][]): void {
  const data: LoadedData = {
    x: split.test.x,
    count: split.test.count,
    inputShape: split.inputShape,
    numClasses: split.numClasses,
    origin: split.origin,
  };
  for (const [field, spec] of specs) {
    checkFitsModel(data, 'simulation data', {
      name: `${field} (${spec.name ?? 'custom spec'})`,
      inputShape: spec.inputShape,
      numClasses: spec.numClasses,
    });
  }
}
