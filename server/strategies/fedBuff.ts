/**
 * `fedbuff` (Nguyen et al. 2022, "Federated Learning with Buffered
 * Asynchronous Aggregation"): clients train whenever they can on the global
 * student they were last sent, and the coordinator buffers their deltas as they
 * arrive; once K are in, it publishes a new global version
 *
 *   w ← w + η_g · (1/n) · Σᵢ s(τᵢ) · Δᵢ      (n = updates in the buffer: K, or fewer at the timeout)
 *
 * then the server optimiser (none by default). τᵢ is the staleness the
 * coordinator computed (versions published since the client's model was sent),
 * s the configured weighting (staleness.ts); an update with τ above
 * `maxStaleness` is refused. Each round of the run is one aggregation.
 * Clients distil from the teacher as under fedkd (α = 1 gives FedBuff's plain
 * supervised updates). Deltas pass the coordinator's update bound like
 * fedavg's; the buffer is a running sum, so memory stays O(parameters).
 */
import { ServerOptimizer } from '../../shared/aggregation/index.js';
import { encodeWeights } from '../../shared/codec/index.js';
import { verifyDelta } from '../robustness/index.js';
import { decodeDelta, refuseFields, trainingConfigFor } from './contributions.js';
import type { FedBuffSettings } from './staleness.js';
import { stalenessWeight } from './staleness.js';
import type { UpdateMessage } from '../../shared/protocol/index.js';
import type {
  Arrival,
  BufferedRound,
  RoundAggregate,
  RoundContext,
  Strategy,
  StrategyContext,
  StrategyDefinition,
} from './strategy.js';
import { ContributionError, belowQuorum } from './strategy.js';

const capabilities = {
  globalModel: true,
  usesTeacher: true,
  heterogeneousStudents: false,
  // Each update is weighted by its own staleness as it arrives: there is no blind sum to mask.
  secureAggregation: false,
  needsProxyAtCoordinator: false,
  asynchronous: true,
} as const;

export class FedBuffStrategy implements Strategy {
  readonly name = 'fedbuff';
  readonly capabilities = capabilities;
  private readonly settings: FedBuffSettings;
  private readonly serverOptimizer: ServerOptimizer;

  constructor(private readonly context: StrategyContext) {
    this.settings = context.config.fedbuff;
    this.serverOptimizer = new ServerOptimizer(context.config.serverOptimizer);
  }

  beginRound(round: RoundContext): BufferedRound {
    const { global } = round;
    const { bufferSize, maxStaleness, staleness: weighting, serverLearningRate } = this.settings;
    // Σ s(τᵢ)·Δᵢ in float64: the order updates arrive in barely moves the result.
    let sum: Float64Array | undefined;
    const stalenesses: number[] = [];
    let closing = false;
    let optimizerBefore: ReturnType<ServerOptimizer['snapshot']> | undefined;
    const full = () => closing || stalenesses.length >= bufferSize;
    const weigh = (update: UpdateMessage, arrival: Arrival) => {
      const tau = arrival.staleness;
      if (tau > maxStaleness)
        throw new ContributionError(
          `staleness ${tau} exceeds maxStaleness ${maxStaleness}: trained from model version ${update.modelVersion}, ${tau} versions ago`,
          'stale-model',
        );
      const weight = stalenessWeight(tau, weighting);
      return { weight, note: `staleness ${tau}, weight ${weight.toPrecision(6)}` };
    };
    const applyBuffer = (buffer: Float64Array, buffered: readonly number[]): RoundAggregate => {
      const n = buffered.length;
      const step = new Float32Array(buffer.length);
      const scale = serverLearningRate / n;
      for (let i = 0; i < step.length; i++) step[i] = scale * buffer[i]!;
      const bad = verifyDelta(step, global.length);
      if (bad) throw new Error(`model guard: ${bad}`);
      optimizerBefore = this.serverOptimizer.snapshot();
      return {
        participants: n,
        weights: this.serverOptimizer.step(global, step),
        staleness: {
          mean: buffered.reduce((a, b) => a + b, 0) / n,
          max: Math.max(...buffered),
        },
      };
    };
    return {
      instructions: {
        config: trainingConfigFor(this.context, capabilities.usesTeacher),
        weights: encodeWeights(global, 'float32'),
      },
      bufferSize,
      weigh,
      applyBuffer,
      complete: full,
      accept: (_clientId, update, arrival) => {
        if (!arrival) throw new Error('fedbuff: an update needs its staleness (arrival)');
        if (full())
          throw new ContributionError(
            `the buffer of round ${round.roundId} is full (K = ${bufferSize}) and being aggregated; the new model follows`,
            'too-late',
          );
        const { weight, note: stale } = weigh(update, arrival);
        refuseFields(update, ['predictions', 'masked'], 'fedbuff buffers weight deltas');
        const { delta, note } = decodeDelta(update, round);
        const buffer = (sum ??= new Float64Array(global.length));
        for (let i = 0; i < buffer.length; i++) buffer[i]! += weight * delta[i]!;
        stalenesses.push(arrival.staleness);
        return { note: note !== undefined ? `${stale}; ${note}` : stale };
      },
      rollback: () => {
        if (optimizerBefore) this.serverOptimizer.restore(optimizerBefore);
        optimizerBefore = undefined;
      },
      aggregate: async ({ enough }): Promise<RoundAggregate> => {
        closing = true;
        const n = stalenesses.length;
        if (n === 0 || !sum) return { participants: 0, failure: 'no weight delta arrived' };
        if (!enough(n)) return belowQuorum(n);
        return applyBuffer(sum, stalenesses);
      },
    };
  }
}

export const fedBuffStrategy: StrategyDefinition = {
  name: 'fedbuff',
  summary:
    'asynchronous: clients train whenever they can, every K updates are aggregated, weighted by staleness',
  capabilities,
  create: (context) => new FedBuffStrategy(context),
};
