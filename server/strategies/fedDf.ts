/**
 * `feddf` (Lin et al. 2020): fedkd, then the coordinator distils the ensemble
 * of the clients' students (blended with the teacher) into the averaged student
 * on the proxy set, putting back knowledge that averaging loses between non-IID
 * clients.
 *
 * Each accepted client's student is run on the proxy set as its delta arrives,
 * so only a running sum of predictions is kept, never the deltas.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ProxyData } from '../../shared/data/types.js';
import { buildModel, getFlatWeights, setFlatWeights } from '../../shared/models/index.js';
import { argmaxRows } from '../../shared/predictions/index.js';
import { predictProbs, trainLocal } from '../../shared/training/index.js';
import { blend } from './blend.js';
import type { RoundContext, StrategyContext, StrategyDefinition } from './strategy.js';
import { WeightAveragingStrategy } from './weightAveraging.js';

const capabilities = {
  globalModel: true,
  usesTeacher: true,
  heterogeneousStudents: false,
  secureAggregation: false,
  needsProxyAtCoordinator: true,
} as const;

class FedDfStrategy extends WeightAveragingStrategy {
  /** A second student to run each client's weights on the proxy set. */
  private readonly scratch: tf.LayersModel;
  /** The distillation target: a student of the global architecture. */
  private readonly student: tf.LayersModel;
  private readonly proxy: ProxyData;
  private ensemble: { roundId: number; sum: Float64Array; count: number } | undefined;

  constructor(context: StrategyContext) {
    super('feddf', capabilities, context);
    if (!context.proxy)
      throw new Error('strategy feddf needs the proxy set at the coordinator (context.proxy)');
    this.proxy = context.proxy;
    this.scratch = buildModel(context.studentSpec, context.config.seed);
    this.student = buildModel(context.studentSpec, context.config.seed);
  }

  protected override inspect(round: RoundContext, weights: () => Float32Array): () => void {
    setFlatWeights(this.scratch, weights());
    const probs = predictProbs(
      this.scratch,
      this.proxy.x,
      this.proxy.count,
      this.context.config.training.temperature,
    );
    return () => {
      if (this.ensemble?.roundId !== round.roundId)
        this.ensemble = { roundId: round.roundId, sum: new Float64Array(probs.length), count: 0 };
      const { sum } = this.ensemble;
      for (let i = 0; i < probs.length; i++) sum[i]! += probs[i]!;
      this.ensemble.count += 1;
    };
  }

  protected override async refine(
    round: RoundContext,
    averaged: Float32Array,
  ): Promise<Float32Array> {
    const ensemble = this.ensemble?.roundId === round.roundId ? this.ensemble : undefined;
    this.ensemble = undefined;
    if (!ensemble || ensemble.count === 0) return averaged;
    const mean = Float32Array.from(ensemble.sum, (v) => v / ensemble.count);
    const { config, studentSpec, numClasses } = this.context;
    const { epochs, learningRate, teacherWeight } = config.ensembleDistillation;
    const proxy = this.proxy;
    const targets = blend(proxy.softLabels, mean, teacherWeight);
    setFlatWeights(this.student, averaged);
    // α = 0: only the soft term trains; the labels (the targets' argmax) only feed training accuracy.
    await trainLocal({
      model: this.student,
      spec: studentSpec,
      data: { x: proxy.x, y: argmaxRows(targets, numClasses), count: proxy.count },
      proxy: { x: proxy.x, softLabels: targets, count: proxy.count },
      config: {
        epochs,
        batchSize: config.training.batchSize,
        learningRate,
        temperature: config.training.temperature,
        alpha: 0,
        optimizer: 'adam',
      },
      seed: round.roundId,
    });
    return getFlatWeights(this.student);
  }

  dispose(): void {
    this.scratch.dispose();
    this.student.dispose();
  }
}

export const fedDfStrategy: StrategyDefinition = {
  name: 'feddf',
  summary: 'fedkd, then server-side distillation of the clients’ ensemble on the proxy set',
  capabilities,
  create: (context) => new FedDfStrategy(context),
};
