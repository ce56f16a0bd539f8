/**
 * Logit exchange without weights (fedmd, dsfl): each round the coordinator
 * asks the sampled clients for their predictions on a seeded sample of the
 * proxy set and sends the previous round's consensus of them; clients distil
 * from the consensus blended with the teacher's soft labels. No weights travel,
 * so every client may run its own architecture; there is no global student.
 *
 * `consensusOf` is where the two differ: FedMD averages, DS-FL sharpens.
 */
import { createRng, deriveSeed } from '../../shared/data/index.js';
import { decodeSoftLabels, encodeSoftLabels } from '../../shared/softLabels/index.js';
import type { UpdateMessage } from '../../shared/protocol/index.js';
import type {
  RoundAggregate,
  RoundContext,
  Strategy,
  StrategyCapabilities,
  StrategyContext,
  StrategyRound,
} from './strategy.js';
import { ContributionError, belowQuorum } from './strategy.js';
import { meanOf, refuseFields, trainingConfigFor } from './contributions.js';

export const LOGIT_EXCHANGE_CAPABILITIES: StrategyCapabilities = {
  globalModel: false,
  usesTeacher: true,
  heterogeneousStudents: true,
  secureAggregation: false,
  needsProxyAtCoordinator: false,
};

/** The proxy samples clients predict on in a round: a seeded sample, sorted. */
export function proxySample(context: StrategyContext, roundId: number): Int32Array {
  const total = context.proxyCount;
  const count = Math.min(context.config.logitExchange.samples, total);
  const order = createRng(deriveSeed(context.config.seed, 'proxySample', roundId)).shuffle(
    Int32Array.from({ length: total }, (_, i) => i),
  );
  return order.slice(0, count).sort();
}

/** Checks and decodes one client's predictions on the round's proxy sample. */
function decodePredictions(
  update: UpdateMessage,
  wanted: Int32Array,
  numClasses: number,
): Float32Array {
  const predictions = update.predictions;
  if (predictions === undefined)
    throw new ContributionError(
      'this round needs predictions on the requested proxy samples',
      'invalid-payload',
    );
  const got = predictions.indices;
  if (got.length !== wanted.length || got.some((v, i) => v !== wanted[i]))
    throw new ContributionError(
      'predictions are not for the proxy samples this round asked for',
      'invalid-payload',
    );
  let probs: Float32Array;
  try {
    probs = decodeSoftLabels(predictions.probs, { maxElements: wanted.length * numClasses });
  } catch (error) {
    throw new ContributionError((error as Error).message, 'rejected-weights');
  }
  if (probs.length !== wanted.length * numClasses)
    throw new ContributionError(
      `predictions hold ${probs.length} values, expected ${wanted.length} × ${numClasses}`,
      'invalid-payload',
    );
  for (let i = 0; i < probs.length; i++)
    if (!Number.isFinite(probs[i]!))
      throw new ContributionError(`prediction ${i} is not finite`, 'rejected-weights');
  return probs;
}

export class LogitExchangeStrategy implements Strategy {
  readonly capabilities = LOGIT_EXCHANGE_CAPABILITIES;
  /** The last round's consensus, sent with the next round. */
  private consensus: { indices: Int32Array; probs: Float32Array } | undefined;

  constructor(
    readonly name: string,
    private readonly context: StrategyContext,
    /** The consensus of a round from the mean of its clients' predictions. */
    private readonly consensusOf: (mean: Float32Array) => Float32Array,
  ) {}

  beginRound(round: RoundContext): StrategyRound {
    const { config, numClasses } = this.context;
    const indices = proxySample(this.context, round.roundId);
    const previous = this.consensus;
    const sum = new Float64Array(indices.length * numClasses);
    const accuracies: number[] = [];
    let participants = 0;
    return {
      instructions: {
        config: {
          ...trainingConfigFor(this.context, this.capabilities.usesTeacher),
          consensusWeight: config.logitExchange.consensusWeight,
        },
        predict: { indices },
        ...(previous
          ? {
              consensus: {
                indices: previous.indices,
                probs: encodeSoftLabels(previous.probs, { numClasses, precision: 'float16' }),
              },
            }
          : {}),
      },
      accept: (_clientId, update) => {
        refuseFields(update, ['delta', 'masked'], 'this round sent no weights');
        const probs = decodePredictions(update, indices, numClasses);
        for (let i = 0; i < probs.length; i++) sum[i]! += probs[i]!;
        if (update.metrics.validationAccuracy !== undefined)
          accuracies.push(update.metrics.validationAccuracy);
        participants += 1;
      },
      aggregate: async ({ enough }): Promise<RoundAggregate> => {
        if (!enough(participants)) return belowQuorum(participants);
        if (participants > 0) {
          const mean = Float32Array.from(sum, (v) => v / participants);
          this.consensus = { indices, probs: this.consensusOf(mean) };
        }
        return { participants, clientAccuracy: meanOf(accuracies) };
      },
    };
  }
}
