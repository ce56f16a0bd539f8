/**
 * The strategies that keep one global student (fedavg, fedkd, feddf): its
 * weights go down each round, weight deltas come back and are folded as they
 * arrive — into a streaming sample-weighted FedAvg sum, or kept for a robust
 * aggregator (median, trimmed mean, Krum, norm clipping), which needs every
 * delta at once — and the mean delta goes through the server optimiser.
 *
 * Subclasses add to a round through two hooks (FedDF: feddf.ts): `inspect`
 * sees each accepted delta, `refine` reworks the averaged student.
 */
import type { Aggregator, ClientDelta } from '../../shared/aggregation/index.js';
import {
  FedAvgAccumulator,
  ServerOptimizer,
  createAggregator,
} from '../../shared/aggregation/index.js';
import { encodeWeights } from '../../shared/codec/index.js';
import type {
  RoundAggregate,
  RoundContext,
  RoundInstructions,
  Strategy,
  StrategyCapabilities,
  StrategyContext,
  WeightAveragingRound,
} from './strategy.js';
import { belowQuorum } from './strategy.js';
import { decodeDelta, refuseFields, trainingConfigFor } from './contributions.js';

export class WeightAveragingStrategy implements Strategy {
  /** Robust aggregators see every delta at once; undefined for streaming FedAvg. */
  private readonly aggregator: Aggregator | undefined;
  private readonly serverOptimizer: ServerOptimizer;

  constructor(
    readonly name: string,
    readonly capabilities: StrategyCapabilities,
    protected readonly context: StrategyContext,
  ) {
    const { aggregator, serverOptimizer } = context.config;
    this.aggregator = aggregator.kind === 'fedavg' ? undefined : createAggregator(aggregator);
    this.serverOptimizer = new ServerOptimizer(serverOptimizer);
  }

  /** Called with each accepted client's full weights (global + delta), before it is folded in. */
  protected inspect?(round: RoundContext, weights: () => Float32Array): () => void;

  /** Reworks the averaged student before it becomes the global one. */
  protected refine?(round: RoundContext, averaged: Float32Array): Promise<Float32Array>;

  beginRound(round: RoundContext): WeightAveragingRound {
    const { global } = round;
    const instructions: RoundInstructions = {
      config: trainingConfigFor(this.context, this.capabilities.usesTeacher),
      weights: encodeWeights(global, 'float32'),
    };
    let accumulator: FedAvgAccumulator | undefined;
    const deltas: ClientDelta[] = [];
    let participants = 0;
    const applyMeanDelta = async (meanDelta: Float32Array): Promise<Float32Array> => {
      const next = this.serverOptimizer.step(global, meanDelta);
      return this.refine ? this.refine(round, next) : next;
    };
    return {
      instructions,
      accept: (_clientId, update) => {
        refuseFields(update, ['predictions', 'masked'], 'this round averages weight deltas');
        const delta = decodeDelta(update, global);
        // Everything the update needs is checked before anything is folded in.
        const commitInspection = this.inspect?.(round, () => {
          const weights = new Float32Array(global.length);
          for (let i = 0; i < weights.length; i++) weights[i] = global[i]! + delta[i]!;
          return weights;
        });
        if (this.aggregator) deltas.push({ delta, numSamples: update.numSamples });
        else (accumulator ??= new FedAvgAccumulator(global.length)).add(delta, update.numSamples);
        commitInspection?.();
        participants += 1;
      },
      applyMeanDelta,
      aggregate: async ({ enough }): Promise<RoundAggregate> => {
        if (participants === 0) return { participants, failure: 'no weight delta arrived' };
        if (!enough(participants)) return belowQuorum(participants);
        const meanDelta = accumulator
          ? accumulator.result()
          : (this.aggregator as Aggregator).aggregate(deltas);
        return { participants, weights: await applyMeanDelta(meanDelta) };
      },
    };
  }
}
