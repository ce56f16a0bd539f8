/**
 * What the clients of one round have contributed, folded in as updates
 * arrive: weight deltas (a streaming FedAvg sum, or kept for a robust
 * aggregator), predictions on the proxy sample (a running sum for the
 * consensus), each client's student's predictions on the proxy set (FedDF's
 * ensemble, computed here so the deltas need not be kept), and the clients'
 * own validation accuracies.
 *
 * `add` checks a whole update before it changes anything: a refused update
 * leaves the round exactly as it was.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Aggregator, ClientDelta } from '../shared/aggregation/index.js';
import { FedAvgAccumulator } from '../shared/aggregation/index.js';
import { decodeWeights } from '../shared/codec/index.js';
import { decodeSoftLabels } from '../shared/softLabels/index.js';
import { setFlatWeights } from '../shared/models/index.js';
import { predictProbs } from '../shared/training/index.js';
import type { ErrorCode, UpdateMessage } from '../shared/protocol/index.js';
import type { StrategyPlan } from './strategy.js';

/** An update that cannot be applied; `code` goes into the client's error ack. */
export class ContributionError extends Error {
  override readonly name = 'ContributionError';
  constructor(
    message: string,
    readonly code: ErrorCode,
  ) {
    super(message);
  }
}

export interface RoundContributionOptions {
  plan: StrategyPlan;
  /** The round's global weights (deltas are relative to them). */
  global: Float32Array;
  numClasses: number;
  /** Proxy samples clients predict on (logit exchange). */
  predictIndices?: Int32Array;
  /** Set for robust aggregators, which need every delta at once; FedAvg streams. */
  aggregator?: Aggregator;
  /** FedDF: a scratch model of the student's architecture and the proxy inputs to run it on. */
  ensemble?: {
    model: tf.LayersModel;
    proxyX: Float32Array;
    proxyCount: number;
    temperature: number;
  };
}

export class RoundContributions {
  /** Made with the first delta: a round whose sum is kept elsewhere (secure aggregation) holds none. */
  private accumulator: FedAvgAccumulator | undefined;
  private readonly deltas: ClientDelta[] = [];
  private predictionSum: Float64Array | undefined;
  private ensembleSum: Float64Array | undefined;
  private contributors = 0;
  readonly validationAccuracies: number[] = [];

  constructor(private readonly options: RoundContributionOptions) {}

  get count(): number {
    return this.contributors;
  }

  /**
   * @param screen called with the decoded delta before anything else sees it (the update
   *   bound, server/robustness): returns what to fold in (the delta or a clipped copy), or
   *   throws a ContributionError to refuse the update.
   */
  add(update: UpdateMessage, screen?: (delta: Float32Array) => Float32Array): void {
    const { plan, global, numClasses } = this.options;
    if (plan.sendsWeights !== (update.delta !== undefined)) {
      throw new ContributionError(
        plan.sendsWeights
          ? 'this round needs a weight delta'
          : 'this round sent no weights, so a delta cannot apply',
        'invalid-payload',
      );
    }
    if (plan.exchangesLogits !== (update.predictions !== undefined)) {
      throw new ContributionError(
        plan.exchangesLogits
          ? 'this round needs predictions on the requested proxy samples'
          : 'this round asked for no predictions',
        'invalid-payload',
      );
    }
    let delta: Float32Array | undefined;
    let predictions: Float32Array | undefined;
    try {
      if (update.delta) delta = decodeWeights(update.delta, global.length);
      if (delta && screen) delta = screen(delta);
      if (update.predictions) {
        const wanted = this.options.predictIndices ?? new Int32Array(0);
        const got = update.predictions.indices;
        if (got.length !== wanted.length || got.some((v, i) => v !== wanted[i])) {
          throw new ContributionError(
            'predictions are not for the proxy samples this round asked for',
            'invalid-payload',
          );
        }
        predictions = decodeSoftLabels(update.predictions.probs, {
          maxElements: wanted.length * numClasses,
        });
        if (predictions.length !== wanted.length * numClasses) {
          throw new ContributionError(
            `predictions hold ${predictions.length} values, expected ${wanted.length} × ${numClasses}`,
            'invalid-payload',
          );
        }
      }
    } catch (error) {
      if (error instanceof ContributionError) throw error;
      throw new ContributionError((error as Error).message, 'rejected-weights');
    }
    let ensemble: Float32Array | undefined;
    if (delta && this.options.ensemble) {
      const { model, proxyX, proxyCount, temperature } = this.options.ensemble;
      const weights = new Float32Array(global.length);
      for (let i = 0; i < weights.length; i++) weights[i] = global[i]! + delta[i]!;
      setFlatWeights(model, weights);
      ensemble = predictProbs(model, proxyX, proxyCount, temperature);
    }
    // Everything is checked: from here on the update is applied whole.
    if (delta) {
      if (this.options.aggregator) this.deltas.push({ delta, numSamples: update.numSamples });
      else
        (this.accumulator ??= new FedAvgAccumulator(global.length)).add(delta, update.numSamples);
    }
    if (predictions) {
      this.predictionSum ??= new Float64Array(predictions.length);
      for (let i = 0; i < predictions.length; i++) this.predictionSum[i]! += predictions[i]!;
    }
    if (ensemble) {
      this.ensembleSum ??= new Float64Array(ensemble.length);
      for (let i = 0; i < ensemble.length; i++) this.ensembleSum[i]! += ensemble[i]!;
    }
    if (update.metrics.validationAccuracy !== undefined) {
      this.validationAccuracies.push(update.metrics.validationAccuracy);
    }
    this.contributors += 1;
  }

  /** The aggregated delta (sample-weighted mean, or the robust aggregator's). */
  aggregateDelta(): Float32Array {
    if (this.accumulator) return this.accumulator.result();
    if (!this.options.aggregator) {
      throw new Error(
        this.options.plan.sendsWeights
          ? 'no weight delta arrived in this round'
          : 'this round carried no weights',
      );
    }
    return this.options.aggregator.aggregate(this.deltas);
  }

  private static mean(sum: Float64Array | undefined, count: number): Float32Array | undefined {
    if (!sum || count === 0) return undefined;
    return Float32Array.from(sum, (v) => v / count);
  }

  /** Mean of the clients' predictions on the round's proxy sample. */
  meanPredictions(): Float32Array | undefined {
    return RoundContributions.mean(this.predictionSum, this.contributors);
  }

  /** FedDF: mean of the clients' students' predictions on the whole proxy set. */
  ensembleMean(): Float32Array | undefined {
    return RoundContributions.mean(this.ensembleSum, this.contributors);
  }
}
