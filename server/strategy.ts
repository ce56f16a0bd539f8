/**
 * What each strategy (server/config.ts documents them) moves in a round, and
 * the pure pieces of their server-side steps: DS-FL's entropy-reduction
 * sharpening and FedDF's ensemble targets.
 */
import type { RoundConfig } from '../shared/protocol/index.js';
import { softmaxRows } from '../shared/softLabels/index.js';
import type { StrategyName } from './config.js';

export interface StrategyPlan {
  /** The global weights go down and weight deltas come back, to be averaged. */
  readonly sendsWeights: boolean;
  /** Clients send predictions on a proxy sample and distil from the consensus. */
  readonly exchangesLogits: boolean;
  /** Clients distil from the teacher's soft labels (else hard labels only: α = 1). */
  readonly usesTeacher: boolean;
  /** After averaging, the coordinator distils the clients' ensemble into the global student. */
  readonly distillsEnsemble: boolean;
}

export function planFor(strategy: StrategyName): StrategyPlan {
  switch (strategy) {
    case 'fedkd':
      return {
        sendsWeights: true,
        exchangesLogits: false,
        usesTeacher: true,
        distillsEnsemble: false,
      };
    case 'fedavg':
      return {
        sendsWeights: true,
        exchangesLogits: false,
        usesTeacher: false,
        distillsEnsemble: false,
      };
    case 'feddf':
      return {
        sendsWeights: true,
        exchangesLogits: false,
        usesTeacher: true,
        distillsEnsemble: true,
      };
    case 'fedmd':
    case 'dsfl':
      return {
        sendsWeights: false,
        exchangesLogits: true,
        usesTeacher: true,
        distillsEnsemble: false,
      };
    case 'local':
      return {
        sendsWeights: false,
        exchangesLogits: false,
        usesTeacher: false,
        distillsEnsemble: false,
      };
  }
}

/** The training settings clients get: without a teacher α is 1 (hard labels only). */
export function roundConfigFor(
  plan: StrategyPlan,
  training: RoundConfig,
  consensusWeight: number,
  privacy?: { clipNorm: number; noiseMultiplier: number },
): RoundConfig {
  return {
    ...training,
    ...(plan.usesTeacher ? {} : { alpha: 1 }),
    ...(plan.exchangesLogits ? { consensusWeight } : {}),
    // Only weight deltas are privatised; predictions on public proxy samples are not covered.
    ...(privacy && plan.sendsWeights
      ? { privacy: { clipNorm: privacy.clipNorm, noiseMultiplier: privacy.noiseMultiplier } }
      : {}),
  };
}

/**
 * DS-FL's entropy reduction aggregation (Itahara et al. 2021): the averaged
 * probabilities p̄ of each row go through softmax(p̄ / T) with T < 1, which
 * lowers the consensus's entropy so that non-IID clients' flat averages still
 * teach a class.
 */
export function sharpen(
  probs: Float32Array,
  numClasses: number,
  temperature: number,
): Float32Array {
  return softmaxRows(probs, numClasses, temperature);
}

/** `w·a + (1 − w)·b`, elementwise: blending two sets of distributions stays a set of distributions. */
export function blend(a: Float32Array, b: Float32Array, weightOfA: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = weightOfA * a[i]! + (1 - weightOfA) * b[i]!;
  return out;
}
