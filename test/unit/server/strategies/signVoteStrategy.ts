/**
 * A toy strategy defined in one file, as a plug-in would be: sign voting
 * (signSGD with majority vote, Bernstein et al. 2018) — each coordinate of the
 * global student moves by `step` in the direction most clients' deltas point,
 * whatever their size. Used by tests to show that a new strategy needs nothing
 * but this file and `registerStrategy`.
 */
import {
  decodeDelta,
  refuseFields,
  trainingConfigFor,
} from '../../../../server/strategies/index.js';
import type { StrategyDefinition } from '../../../../server/strategies/index.js';
import { encodeWeights } from '../../../../shared/index.js';

const capabilities = {
  globalModel: true,
  usesTeacher: true,
  heterogeneousStudents: false,
  secureAggregation: false,
  needsProxyAtCoordinator: false,
} as const;

export function signVoteStrategy(step: number): StrategyDefinition {
  return {
    name: 'sign-vote',
    summary: 'each coordinate moves by a fixed step in the direction most clients point',
    capabilities,
    create: (context) => ({
      name: 'sign-vote',
      capabilities,
      beginRound: (round) => {
        const votes = new Int32Array(round.global.length);
        let participants = 0;
        return {
          instructions: {
            config: trainingConfigFor(context, true),
            weights: encodeWeights(round.global, 'float32'),
          },
          accept: (_clientId, update) => {
            refuseFields(update, ['predictions', 'masked'], 'sign voting takes deltas');
            const delta = decodeDelta(update, round.global);
            for (let i = 0; i < delta.length; i++) votes[i]! += Math.sign(delta[i]!);
            participants += 1;
          },
          aggregate: async ({ enough }) => {
            if (!enough(participants)) return { participants, failure: 'below quorum' };
            const weights = Float32Array.from(
              round.global,
              (w, i) => w + step * Math.sign(votes[i]!),
            );
            return { participants, weights };
          },
        };
      },
    }),
  };
}
