/**
 * KL divergence from a teacher's temperature-softened distribution to the
 * student's — the "soft" term of the distillation loss (Hinton et al. 2015).
 * Teacher rows may be top-k sparse (zeros): 0·log 0 is taken as 0, and no
 * log of zero is ever formed, so neither the value nor its gradient is NaN.
 */
import * as tf from '@tensorflow/tfjs';
import {
  requireDistributionRows,
  requireMatrix,
  requireSameShape,
  requireTemperature,
} from './validate.js';

/** Options for {@link softTargetKl}. */
export interface SoftTargetKlOptions {
  /**
   * Read teacherProbs back to check each row is a distribution (non-negative,
   * sums to 1 ± 1e-3). Costs a sync on GPU backends; turn off only in a hot
   * loop whose soft labels are known good. Shapes are always checked. Defaults to true.
   */
  checkValues: boolean;
}

/**
 * Batch mean of KL(p ‖ softmax(studentLogits / T)) = Σ_c p_c (log p_c − log q_c).
 * NOT multiplied by T² — {@link distillationLoss} does that.
 *
 * @param teacherProbs teacher PROBABILITIES already softened at temperature T, float32 [B, C]
 *   (rows sum to 1; zeros allowed).
 * @param studentLogits student LOGITS, float32 [B, C].
 * @param temperature T > 0 applied to the student logits.
 * @returns a scalar; the caller disposes it.
 * @throws DistillationInputError on shape mismatch, bad T or non-distribution rows.
 */
export function softTargetKl(
  teacherProbs: tf.Tensor2D,
  studentLogits: tf.Tensor2D,
  temperature: number,
  options: Readonly<Partial<SoftTargetKlOptions>> = {},
): tf.Scalar {
  requireMatrix('studentLogits', studentLogits);
  requireMatrix('teacherProbs', teacherProbs);
  requireSameShape('studentLogits', studentLogits, 'teacherProbs', teacherProbs);
  requireTemperature(temperature);
  if (options.checkValues ?? true) requireDistributionRows('teacherProbs', teacherProbs);
  return tf.tidy(() => softTargetKlUnchecked(teacherProbs, null, studentLogits, temperature));
}

/**
 * The same loss without checks. `teacherLogProbs`, when the caller has it
 * (teacher given as logits), is used instead of log(teacherProbs) for accuracy.
 * Must be called inside a tf.tidy.
 * @internal
 */
export function softTargetKlUnchecked(
  teacherProbs: tf.Tensor2D,
  teacherLogProbs: tf.Tensor2D | null,
  studentLogits: tf.Tensor2D,
  temperature: number,
): tf.Scalar {
  const studentLogProbs = tf.logSoftmax(tf.div(studentLogits, temperature));
  // log p with zeros replaced by log 1 = 0, so p·log p is exactly 0 there
  // (and finite everywhere, which keeps any gradient through it finite too).
  const safeLogP =
    teacherLogProbs ??
    tf.log(tf.where(tf.greater(teacherProbs, 0), teacherProbs, tf.onesLike(teacherProbs)));
  const perRow = tf.sum(tf.mul(teacherProbs, tf.sub(safeLogP, studentLogProbs)), 1);
  return tf.mean(perRow) as tf.Scalar;
}
