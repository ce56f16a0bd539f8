// Public API of server/strategies: the Strategy interface, the registry and the wrappers.
export type {
  AcceptNote,
  Arrival,
  AggregateOptions,
  BufferedRound,
  ScreenedDelta,
  RoundAggregate,
  RoundContext,
  RoundInstructions,
  SideMessageResult,
  Strategy,
  StrategyCapabilities,
  StrategyContext,
  StrategyDefinition,
  StrategyRound,
  StrategySettings,
  WeightAveragingRound,
} from './strategy.js';
export { ContributionError, belowQuorum, wrapRound } from './strategy.js';
export { findStrategy, getStrategy, registerStrategy, strategyNames } from './registry.js';
export { WeightAveragingStrategy } from './weightAveraging.js';
export { LogitExchangeStrategy, proxySample } from './logitExchange.js';
export { DifferentiallyPrivateStrategy } from './differentialPrivacy.js';
export type { PrivacyConfig } from './differentialPrivacy.js';
export { SecurelyAggregatedStrategy, secAggRefusal } from './secureAggregation.js';
export type { SecureAggregationHooks, SecureOutcome } from './secureAggregation.js';
export { sharpen } from './dsFl.js';
export { blend } from './blend.js';
export {
  DEFAULT_FEDBUFF,
  describeWeighting,
  fedBuffSchema,
  stalenessWeight,
  stalenessWeightingSchema,
} from './staleness.js';
export type { FedBuffSettings, StalenessWeighting } from './staleness.js';
export { decodeDelta, meanOf, refuseFields, trainingConfigFor } from './contributions.js';
