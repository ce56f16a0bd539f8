export { FedAvgAccumulator, fedAvg, AggregationError } from './fedAvg.js';
export type { AggregationErrorCode, FedAvgAccumulatorOptions, WeightedUpdate } from './fedAvg.js';
export * from './robust/index.js';
export { ServerOptimizer, serverOptimizerSchema } from './serverOptimizer.js';
export type { ServerOptimizerSpec } from './serverOptimizer.js';
