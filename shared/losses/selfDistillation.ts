/**
 * Self-distillation: on private data, where no teacher output exists, the
 * student learns from a snapshot of itself (the last global model, or an EMA
 * of it — see {@link EmaSnapshot}). The snapshot's softened outputs act as the
 * teacher; this regularises local training towards the global model's
 * "dark knowledge" and limits client drift.
 */
import * as tf from '@tensorflow/tfjs';
import { softTargetKlUnchecked } from './softTargetKl.js';
import { requireMatrix, requireSameShape, requireTemperature } from './validate.js';

/** Inputs of {@link selfDistillationLoss}. */
export interface SelfDistillationLossOptions {
  /** Current student LOGITS, float32 [B, C]. */
  studentLogits: tf.Tensor2D;
  /** The snapshot model's LOGITS on the same batch, float32 [B, C]; treated as constants. */
  snapshotLogits: tf.Tensor2D;
  /** Softmax temperature T > 0 for both. */
  temperature: number;
  /** Multiply by T² (Hinton 2015), keeping gradient size independent of T. Defaults to true. */
  scaleByTemperatureSquared?: boolean;
}

/**
 * Batch mean of T²·KL(softmax(snapshot/T) ‖ softmax(student/T)).
 *
 * @returns a scalar; the caller disposes it. Differentiable w.r.t. studentLogits.
 * @throws DistillationInputError on shape mismatch or T ≤ 0 / non-finite.
 */
export function selfDistillationLoss(opts: SelfDistillationLossOptions): tf.Scalar {
  const { studentLogits, snapshotLogits, temperature } = opts;
  requireMatrix('studentLogits', studentLogits);
  requireMatrix('snapshotLogits', snapshotLogits);
  requireSameShape('studentLogits', studentLogits, 'snapshotLogits', snapshotLogits);
  requireTemperature(temperature);
  const scale = (opts.scaleByTemperatureSquared ?? true) ? temperature * temperature : 1;
  return tf.tidy(() => {
    const logP = tf.logSoftmax(tf.div<tf.Tensor2D>(snapshotLogits, temperature));
    const kl = softTargetKlUnchecked(tf.exp(logP), logP, studentLogits, temperature);
    return tf.mul(kl, scale) as tf.Scalar;
  });
}
