// Public API of shared/aggregation/robust: the Aggregator interface, plain
// FedAvg behind it, and the Byzantine-robust aggregators.
export { checkUpdates, fedAvgAggregator } from './aggregator.js';
export type { Aggregator, ClientDelta } from './aggregator.js';
export { coordinateMedian } from './median.js';
export { trimmedMean } from './trimmedMean.js';
export type { TrimmedMeanOptions } from './trimmedMean.js';
export { krum, krumSelect, maxKrumF } from './krum.js';
export type { KrumOptions, KrumSelection } from './krum.js';
export { clipToNorm, l2Norm, normClipping } from './normClipping.js';
export type { NormClippingOptions } from './normClipping.js';
export { aggregatorSpecSchema, createAggregator } from './spec.js';
export type { AggregatorSpec } from './spec.js';
