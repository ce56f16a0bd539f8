/**
 * `fedavg` (McMahan et al. 2017): the global student's weights go down, clients
 * train on their private data with hard labels only (α = 1: no teacher), and
 * their weight deltas are averaged. The no-distillation baseline.
 */
import type { StrategyDefinition } from './strategy.js';
import { WeightAveragingStrategy } from './weightAveraging.js';

const capabilities = {
  globalModel: true,
  usesTeacher: false,
  heterogeneousStudents: false,
  secureAggregation: true,
  needsProxyAtCoordinator: false,
} as const;

export const fedAvgStrategy: StrategyDefinition = {
  name: 'fedavg',
  summary: 'weights averaged, hard labels only (no teacher): the baseline',
  capabilities,
  create: (context) => new WeightAveragingStrategy('fedavg', capabilities, context),
};
