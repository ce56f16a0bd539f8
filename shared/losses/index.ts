// Public API of shared/losses: the distillation losses used by local training.
export { distillationLoss, type DistillationLossOptions } from './distillation.js';
export { crossEntropyWithLogits, type CrossEntropyOptions } from './crossEntropy.js';
export { softTargetKl, type SoftTargetKlOptions } from './softTargetKl.js';
export { hintLoss, createHintRegressor, type HintLossOptions, type HintRegressor } from './hint.js';
export { rkdDistanceLoss } from './rkdDistance.js';
export { rkdAngleLoss } from './rkdAngle.js';
export { pktLoss } from './pkt.js';
export { selfDistillationLoss, type SelfDistillationLossOptions } from './selfDistillation.js';
export { EmaSnapshot } from './emaSnapshot.js';
