/**
 * The response-based knowledge-distillation loss (Hinton, Vinyals & Dean 2015)
 * that every fedistill client trains with:
 *
 *   L = α·CE(y, softmax(s)) + (1−α)·T²·KL(p_t ‖ softmax(s/T)),
 *   p_t = softmax(t/T) (teacher logits) or the teacher probabilities as given.
 *
 * The T² factor keeps the soft term's gradient magnitude independent of T
 * (its gradient scales as 1/T²), so α means the same at every temperature.
 */
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../errors.js';
import { crossEntropyUnchecked } from './crossEntropy.js';
import { softTargetKlUnchecked } from './softTargetKl.js';
import {
  requireAlpha,
  requireDistributionRows,
  requireLabels,
  requireMatrix,
  requireSameShape,
  requireTemperature,
} from './validate.js';
import { z } from 'zod';
import { termWeightSchema } from './term.js';
import type { TermDefinition } from './term.js';

/** Inputs of {@link distillationLoss}. At least one of labels / teacher is required. */
export interface DistillationLossOptions {
  /** Student LOGITS (not probabilities), float32 [B, C]. */
  studentLogits: tf.Tensor2D;
  /** Hard labels: class indices int32 [B], or one-hot rows float32 [B, C]. Omit on unlabeled (proxy) data. */
  labels?: tf.Tensor1D | tf.Tensor2D;
  /** Teacher LOGITS float32 [B, C]; softened here as softmax(t/T). Exclusive with teacherProbs. */
  teacherLogits?: tf.Tensor2D;
  /**
   * Teacher PROBABILITIES float32 [B, C], already softened at this temperature
   * (rows sum to 1; may be top-k sparse with zeros). Exclusive with teacherLogits.
   */
  teacherProbs?: tf.Tensor2D;
  /** Softmax temperature T > 0 for the soft term. */
  temperature: number;
  /** Weight of the hard (CE) term in [0, 1]; the soft term gets 1 − α. Used only when both terms exist. */
  alpha: number;
  /** Multiply the soft term by T² (Hinton 2015). Defaults to true. */
  scaleByTemperatureSquared?: boolean;
  /**
   * Read labels / teacherProbs back to check index range and that rows are
   * distributions. Costs a sync on GPU backends; shapes are always checked.
   * Defaults to true.
   */
  checkValues?: boolean;
}

/**
 * Batch mean of α·CE + (1−α)·T²·KL. With no labels the soft term alone
 * (T²·KL, not weighted by 1−α); with no teacher the CE term alone.
 *
 * @returns a scalar (the caller disposes it); differentiable w.r.t. studentLogits.
 * @throws DistillationInputError, before any computation, on: neither labels nor
 *   teacher, both teacherLogits and teacherProbs, rank/shape/batch mismatches,
 *   T ≤ 0 or non-finite, α outside [0, 1], teacherProbs rows that are not
 *   distributions, label indices outside [0, C).
 */
export function distillationLoss(opts: DistillationLossOptions): tf.Scalar {
  const { studentLogits, labels, teacherLogits, teacherProbs, temperature, alpha } = opts;
  const scaleBySquare = opts.scaleByTemperatureSquared ?? true;
  const checkValues = opts.checkValues ?? true;

  const [batch, numClasses] = requireMatrix('studentLogits', studentLogits);
  requireTemperature(temperature);
  requireAlpha(alpha);
  if (teacherLogits !== undefined && teacherProbs !== undefined) {
    throw new DistillationInputError('give the teacher as teacherLogits or teacherProbs, not both');
  }
  if (labels === undefined && teacherLogits === undefined && teacherProbs === undefined) {
    throw new DistillationInputError(
      'distillationLoss needs labels, a teacher (teacherLogits or teacherProbs), or both',
    );
  }
  if (labels !== undefined) requireLabels(labels, batch, numClasses, checkValues);
  if (teacherLogits !== undefined) {
    requireMatrix('teacherLogits', teacherLogits);
    requireSameShape('studentLogits', studentLogits, 'teacherLogits', teacherLogits);
  }
  if (teacherProbs !== undefined) {
    requireMatrix('teacherProbs', teacherProbs);
    requireSameShape('studentLogits', studentLogits, 'teacherProbs', teacherProbs);
    if (checkValues) requireDistributionRows('teacherProbs', teacherProbs);
  }

  return tf.tidy(() => {
    const hard = labels === undefined ? null : crossEntropyUnchecked(studentLogits, labels);
    let soft: tf.Scalar | null = null;
    if (teacherLogits !== undefined) {
      const teacherLogProbs = tf.logSoftmax(tf.div<tf.Tensor2D>(teacherLogits, temperature));
      soft = softTargetKlUnchecked(
        tf.exp(teacherLogProbs),
        teacherLogProbs,
        studentLogits,
        temperature,
      );
    } else if (teacherProbs !== undefined) {
      soft = softTargetKlUnchecked(teacherProbs, null, studentLogits, temperature);
    }
    if (soft !== null && scaleBySquare) soft = tf.mul<tf.Scalar>(soft, temperature * temperature);
    if (hard === null) return soft as tf.Scalar;
    if (soft === null) return hard;
    return tf.add(tf.mul(hard, alpha), tf.mul(soft, 1 - alpha)) as tf.Scalar;
  });
}

/** The response term of a run's `distillation` setting. */
export const responseTermSchema = z.strictObject({
  name: z.literal('response'),
  /** Multiplier of the term in the local loss. */
  weight: termWeightSchema,
  /**
   * Weight α of the hard-label CE on private data; the KL on proxy batches gets 1 − α.
   * Defaults to the round's `alpha`.
   */
  alpha: z.number().min(0).max(1).optional(),
});
export type ResponseTerm = z.infer<typeof responseTermSchema>;

/**
 * Response-based KD: α·CE(private) + (1−α)·proxyWeight·T²·KL(p_teacher ‖ softmax(s_proxy/T)),
 * or CE alone on a step without a proxy batch (no teacher, or α = 1).
 */
export const responseTerm: TermDefinition<ResponseTerm> = {
  name: 'response',
  family: 'response',
  schema: responseTermSchema,
  needs: [],
  bind(term, round) {
    const alpha = term.alpha ?? round.alpha;
    const T = round.temperature;
    const softScale = (1 - alpha) * round.proxyWeight * T * T;
    return {
      usesProxy: alpha < 1,
      loss(inputs) {
        const { proxy, crossEntropy } = inputs;
        if (proxy === undefined) return crossEntropy;
        const kl = softTargetKlUnchecked(proxy.teacherProbs, null, proxy.studentLogits, T);
        return tf.add(tf.mul(crossEntropy, alpha), tf.mul(kl, softScale)) as tf.Scalar;
      },
    };
  },
};
