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
import { z } from 'zod';
import { termWeightSchema } from './term.js';
import type { TermDefinition } from './term.js';

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

/** The self-distillation term of a run's `distillation` setting. */
export const selfTermSchema = z.strictObject({
  name: z.literal('self'),
  /** Multiplier of the term in the local loss. */
  weight: termWeightSchema,
  /** Softmax temperature of this term. Defaults to the round's `temperature`. */
  temperature: z.number().finite().positive().optional(),
  /**
   * Decay d of an exponential moving average of the global models a client receives round after
   * round (w ← d·w + (1−d)·w_global), used as the teacher instead of this round's global model;
   * 0 uses this round's global model itself. Defaults to 0.
   */
  ema: z.number().min(0).lt(1).optional(),
});
export type SelfTerm = z.infer<typeof selfTermSchema>;

/**
 * Self-distillation on PRIVATE batches: T²·KL(softmax(snapshot/T) ‖ softmax(student/T)),
 * the snapshot being the model the round started from (or an EMA of those). Needs no teacher.
 */
export const selfTerm: TermDefinition<SelfTerm> = {
  name: 'self',
  family: 'self',
  schema: selfTermSchema,
  needs: ['snapshot'],
  bind(term, round) {
    const temperature = term.temperature ?? round.temperature;
    return {
      usesProxy: false,
      loss: ({ studentLogits, snapshotLogits }) =>
        selfDistillationLoss({ studentLogits, snapshotLogits: snapshotLogits!, temperature }),
    };
  },
};
