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
} from './partition.js';
export type { Labels, DirichletOptions, LabelSkewSummary } from './partition.js';
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
export { parseIdx, idxToLabeledData } from './idx.js';
export type { IdxArray, IdxTensor, IdxToDataOptions } from './idx.js';
export { parseCsv } from './csv.js';
export type { CsvOptions } from './csv.js';
export { deriveSeed, SEED_STREAMS } from './seeds.js';
export type { SeedStream } from './seeds.js';
