// Public API of shared/losses: the distillation losses, their registry by name and the composer.
export { distillationLoss, responseTerm, responseTermSchema } from './distillation.js';
export type { DistillationLossOptions, ResponseTerm } from './distillation.js';
export { crossEntropyWithLogits, type CrossEntropyOptions } from './crossEntropy.js';
export { softTargetKl, type SoftTargetKlOptions } from './softTargetKl.js';
export { hintLoss, createHintRegressor, hintTerm, hintTermSchema } from './hint.js';
export type { HintLossOptions, HintRegressor, HintTerm } from './hint.js';
export { rkdDistanceLoss, rkdDistanceTerm, rkdDistanceTermSchema } from './rkdDistance.js';
export type { RkdDistanceTerm } from './rkdDistance.js';
export { rkdAngleLoss, rkdAngleTerm, rkdAngleTermSchema } from './rkdAngle.js';
export type { RkdAngleTerm } from './rkdAngle.js';
export { pktLoss, pktTerm, pktTermSchema } from './pkt.js';
export type { PktTerm } from './pkt.js';
export { selfDistillationLoss, selfTerm, selfTermSchema } from './selfDistillation.js';
export type { SelfDistillationLossOptions, SelfTerm } from './selfDistillation.js';
export { EmaSnapshot } from './emaSnapshot.js';
export {
  DEFAULT_DISTILLATION,
  DISTILLATION_TERMS,
  DISTILLATION_TERM_NAMES,
  MAX_DISTILLATION_TERMS,
  distillationNeeds,
  distillationSchema,
  distillationTerm,
  distillationTermSchema,
  parseDistillation,
  termFamily,
} from './registry.js';
export type { DistillationTerm, DistillationTermName } from './registry.js';
export { composeDistillation, composedLoss } from './compose.js';
export type { AvailableInputs, ComposedDistillation } from './compose.js';
export { termWeightSchema } from './term.js';
export type {
  BoundTerm,
  DistillationFamily,
  ProxyStepInputs,
  RoundDefaults,
  TermDefinition,
  TermInputs,
  TermNeed,
} from './term.js';
