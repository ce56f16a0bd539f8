// The package entry: fedistill's isomorphic core (no Node or DOM APIs), the
// same code the coordinator, Node clients and browser clients run.
export * from './errors.js';
export * from './losses/index.js';
export * from './softLabels/index.js';
export * from './codec/index.js';
export * from './models/index.js';
export * from './training/index.js';
export * from './predictions/index.js';
export * from './data/index.js';
export * from './aggregation/index.js';
export * from './artifacts/index.js';
export * from './protocol/index.js';
export * from './backend/index.js';
export * from './privacy/index.js';
export * from './secureAggregation/index.js';
