export { FedAvgAccumulator, fedAvg, AggregationError } from './fedAvg.js';
export type { AggregationErrorCode, WeightedUpdate } from './fedAvg.js';
export * from './robust/index.js';
