// Public API of shared/training: local training, evaluation, soft-label inference.
export { trainLocal } from './trainLocal.js';
export type {
  LocalTrainOptions,
  LocalTrainResult,
  OptimizerName,
  TrainConfig,
  TrainProgress,
} from './trainLocal.js';
export { evaluate, predictProbs } from './evaluate.js';
export type { EvaluateResult } from './evaluate.js';
export { consensusProxy, proxyRows } from './consensusTargets.js';
export type { TeacherFeatureRows, TermValues } from './trainLocal.js';
export { LocalDistillationState, MAX_REGRESSOR_PARAMETERS } from './localDistillationState.js';
export { PENULTIMATE_LAYER, predictFeatures } from './predictFeatures.js';
export type { PredictFeaturesOptions } from './predictFeatures.js';
