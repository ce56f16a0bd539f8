/**
 * Cross-entropy between hard labels and a student's logits — the "hard" term
 * of the distillation loss, computed through a numerically stable
 * log-softmax so that large logits neither overflow nor give log(0).
 */
import * as tf from '@tensorflow/tfjs';
import { requireLabels, requireMatrix } from './validate.js';

/** Options for {@link crossEntropyWithLogits}. */
export interface CrossEntropyOptions {
  /**
   * Read the label values back to check indices are in range and one-hot rows
   * are distributions. Costs a sync on GPU backends; turn off only in a hot
   * loop whose labels are known good. Shapes are always checked. Defaults to true.
   */
  checkValues: boolean;
}

/**
 * Batch mean of −Σ_c y_bc · log softmax(logits)_bc.
 *
 * @param logits student LOGITS (not probabilities), float32 [B, C].
 * @param labels class indices int32 [B], or one-hot (or soft) rows float32 [B, C].
 * @returns a scalar; the caller disposes it.
 * @throws DistillationInputError on a shape mismatch or a label index outside [0, C).
 */
export function crossEntropyWithLogits(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D | tf.Tensor2D,
  options: Readonly<Partial<CrossEntropyOptions>> = {},
): tf.Scalar {
  const [batch, numClasses] = requireMatrix('logits', logits);
  requireLabels(labels, batch, numClasses, options.checkValues ?? true);
  return tf.tidy(() => crossEntropyUnchecked(logits, labels));
}

/**
 * The same loss without checks, for callers that validated already. Must be
 * called inside a tf.tidy.
 * @internal
 */
export function crossEntropyUnchecked(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D | tf.Tensor2D,
): tf.Scalar {
  const numClasses = logits.shape[1];
  // oneHot as int32 then cast: tfjs-backend-wasm 4.22's OneHot ignores a
  // float32 dtype and writes int bits (1 reads back as 1.4e-45), zeroing the loss.
  const target =
    labels.rank === 1
      ? tf.cast(tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, numClasses), 'float32')
      : labels;
  const logProbs = tf.logSoftmax(logits);
  // Σ_c y·log q per row, negated and averaged over the batch.
  return tf.neg(tf.mean(tf.sum(tf.mul(target, logProbs), 1))) as tf.Scalar;
}
