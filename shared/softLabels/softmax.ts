import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../errors.js';

/**
 * Temperature-softened class probabilities: `softmax(logits / T)` row-wise.
 *
 * A higher temperature spreads the teacher's mass over the non-argmax
 * classes ("dark knowledge"), which is what the student learns from; T = 1 is
 * the ordinary softmax.
 *
 * @param logits [B, C] LOGITS (not probabilities).
 * @param temperature T > 0, finite.
 * @returns [B, C] PROBABILITIES, each row summing to 1. The caller owns
 *   (and must dispose) the returned tensor; nothing else is left allocated.
 * @throws DistillationInputError for a non-2D input or a bad temperature.
 */
export function softmaxWithTemperature(logits: tf.Tensor2D, temperature: number): tf.Tensor2D {
  if (!Number.isFinite(temperature) || temperature <= 0) {
    throw new DistillationInputError(
      `softmaxWithTemperature: temperature must be a finite number > 0, got ${temperature}`,
    );
  }
  if (logits.rank !== 2) {
    throw new DistillationInputError(
      `softmaxWithTemperature: logits must be 2-D [B, C], got shape [${logits.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() =>
    tf.softmax(temperature === 1 ? logits : tf.div<tf.Tensor2D>(logits, temperature)),
  );
}
