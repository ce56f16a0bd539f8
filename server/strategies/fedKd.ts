/**
 * `fedkd`, the default: FedAvg whose clients distil from the teacher's soft
 * labels on the proxy set beside their hard labels
 * (`α·CE + (1−α)·T²·KL`, and whichever other distillation terms the run names).
 */
import type { StrategyDefinition } from './strategy.js';
import { WeightAveragingStrategy } from './weightAveraging.js';

const capabilities = {
  globalModel: true,
  usesTeacher: true,
  heterogeneousStudents: false,
  secureAggregation: true,
  needsProxyAtCoordinator: false,
} as const;

export const fedKdStrategy: StrategyDefinition = {
  name: 'fedkd',
  summary: 'weights averaged, clients distil from the teacher on the proxy set (default)',
  capabilities,
  create: (context) => new WeightAveragingStrategy('fedkd', capabilities, context),
};
