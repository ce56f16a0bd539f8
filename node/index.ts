// The package's Node entry (`fedistill/node`): what only Node can do beside the
// isomorphic core of `fedistill`: reading data files and named datasets, picking
// the best tfjs backend, reading and writing model files.
export * from './data/index.js';
export * from './backend.js';
export * from './modelFiles.js';
export { demoSplit, parseDemoShard, DEMO_DEFAULTS } from './demo/demoSplit.js';
export type { DemoSplit, DemoSplitOptions } from './demo/demoSplit.js';
