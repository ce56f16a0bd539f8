export type { LabeledData, ProxyData } from './types.js';
export { createRng } from './rng.js';
export type { Rng, MutableArrayLike } from './rng.js';
export {
  partitionIid,
  partitionDirichlet,
  partitionShards,
  labelHistogram,
  labelSkew,
  describePartition,
  partitionByScheme,
  capPartSizes,
} from './partition.js';
export type { Labels, DirichletOptions, LabelSkewSummary, PartitionScheme } from './partition.js';
export {
  featureSizeOf,
  checkLabeledData,
  subset,
  concatData,
  splitIndices,
  splitDataset,
  oneHot,
} from './dataset.js';
export type { CheckDataOptions, SplitSize } from './dataset.js';
export { parseIdx, idxToLabeledData, idxToFeatures, idxInputShape, encodeIdx } from './idx.js';
export type { IdxArray, IdxTensor, IdxToDataOptions } from './idx.js';
export { parseCsv, parseCsvData } from './csv.js';
export type { CsvData, CsvOptions } from './csv.js';
export { deriveSeed, SEED_STREAMS } from './seeds.js';
export type { SeedStream } from './seeds.js';
