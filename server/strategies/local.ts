/**
 * `local`: no federation. Clients train alone on their private data; rounds
 * only pace them and collect their validation accuracies (the lower bound of
 * the strategy comparison).
 */
import type { RoundAggregate, Strategy, StrategyDefinition, StrategyRound } from './strategy.js';
import type { StrategyContext } from './strategy.js';
import { belowQuorum } from './strategy.js';
import { meanOf, refuseFields, trainingConfigFor } from './contributions.js';

const capabilities = {
  globalModel: false,
  usesTeacher: false,
  heterogeneousStudents: true,
  secureAggregation: false,
  needsProxyAtCoordinator: false,
} as const;

class LocalStrategy implements Strategy {
  readonly name = 'local';
  readonly capabilities = capabilities;
  constructor(private readonly context: StrategyContext) {}

  beginRound(): StrategyRound {
    const accuracies: number[] = [];
    let participants = 0;
    return {
      instructions: { config: trainingConfigFor(this.context, false) },
      accept: (_clientId, update) => {
        refuseFields(update, ['delta', 'predictions', 'masked'], 'clients train alone');
        if (update.metrics.validationAccuracy !== undefined)
          accuracies.push(update.metrics.validationAccuracy);
        participants += 1;
      },
      aggregate: async ({ enough }): Promise<RoundAggregate> =>
        enough(participants)
          ? { participants, clientAccuracy: meanOf(accuracies) }
          : belowQuorum(participants),
    };
  }
}

export const localStrategy: StrategyDefinition = {
  name: 'local',
  summary: 'no federation: clients train alone (the lower bound)',
  capabilities,
  create: (context) => new LocalStrategy(context),
};
