/**
 * Inference helpers: accuracy / loss on labelled data and temperature-softened
 * probabilities (the teacher's soft labels). Both run `model.predict` in
 * batches, each batch in its own `tf.tidy`, and return plain typed arrays.
 */
import * as tf from '@tensorflow/tfjs';
import { DatasetError, DistillationInputError } from '../errors.js';
import type { LabeledData } from '../data/index.js';
import { checkFeatures } from './batches.js';

export interface EvaluateResult {
  /** Fraction of samples whose argmax logit equals the label. */
  accuracy: number;
  /** Mean cross-entropy of softmax(logits) against the labels. */
  loss: number;
  /** Argmax class of each sample, `[count]`. */
  predictions: Int32Array;
}

/** Per-sample input shape of a model (batch axis dropped). */
function inputShapeOf(model: tf.LayersModel): number[] {
  const shape = model.inputs[0]?.shape;
  if (shape === undefined) throw new DatasetError('model has no input');
  return shape.slice(1).map((d) => d ?? 1);
}

function requireBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DistillationInputError(`batchSize must be a positive integer, got ${batchSize}`);
  }
}

/**
 * Evaluates `model` (which outputs LOGITS) on labelled data: accuracy, mean
 * cross-entropy and the predicted classes. Empty data gives NaN metrics.
 *
 * @param batchSize samples per `predict` call. Defaults to 256.
 */
export function evaluate(
  model: tf.LayersModel,
  data: LabeledData,
  batchSize = 256,
): EvaluateResult {
  requireBatchSize(batchSize);
  const shape = inputShapeOf(model);
  const featureSize = shape.reduce((a, b) => a * b, 1);
  checkFeatures('evaluate', data.x, data.count, featureSize);
  if (data.y.length !== data.count) {
    throw new DatasetError(`data has ${data.y.length} labels for ${data.count} samples`);
  }
  const predictions = new Int32Array(data.count);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const b = Math.min(batchSize, data.count - start);
    const labels = Int32Array.from(data.y.subarray(start, start + b));
    const [predT, lossT] = tf.tidy(() => {
      const x = tf.tensor(data.x.subarray(start * featureSize, (start + b) * featureSize), [
        b,
        ...shape,
      ]);
      const logits = model.predict(x) as tf.Tensor2D;
      const numClasses = logits.shape[1];
      const y = tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses), 'float32');
      // Σ_rows −Σ_c y·log softmax(logits); labels outside [0, C) give a zero row (loss 0).
      const loss = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits))));
      return [tf.argMax(logits, 1), loss];
    });
    const pred = predT.dataSync();
    lossSum += lossT.dataSync()[0] ?? Number.NaN;
    tf.dispose([predT, lossT]);
    for (let i = 0; i < b; i++) {
      const p = pred[i] ?? -1;
      predictions[start + i] = p;
      if (p === labels[i]) correct++;
    }
  }
  return {
    accuracy: data.count === 0 ? Number.NaN : correct / data.count,
    loss: data.count === 0 ? Number.NaN : lossSum / data.count,
    predictions,
  };
}

/**
 * Class probabilities softmax(logits / T) of `model` (which outputs LOGITS) on
 * `count` samples of `x` (row-major `[count, ...inputShape]`): the teacher's
 * soft labels at temperature T. Returns row-major `[count, numClasses]`.
 *
 * @param batchSize samples per `predict` call. Defaults to 256.
 */
export function predictProbs(
  model: tf.LayersModel,
  x: Float32Array,
  count: number,
  temperature: number,
  batchSize = 256,
): Float32Array {
  requireBatchSize(batchSize);
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new DistillationInputError(`temperature must be positive and finite, got ${temperature}`);
  }
  const shape = inputShapeOf(model);
  const featureSize = shape.reduce((a, b) => a * b, 1);
  checkFeatures('predictProbs', x, count, featureSize);
  let out: Float32Array | undefined;
  for (let start = 0; start < count; start += batchSize) {
    const b = Math.min(batchSize, count - start);
    const probsT = tf.tidy(() => {
      const batch = tf.tensor(x.subarray(start * featureSize, (start + b) * featureSize), [
        b,
        ...shape,
      ]);
      const logits = model.predict(batch) as tf.Tensor2D;
      return tf.softmax(tf.div(logits, temperature));
    });
    const numClasses = probsT.shape[1] ?? 0;
    out ??= new Float32Array(count * numClasses);
    out.set(probsT.dataSync(), start * numClasses);
    probsT.dispose();
  }
  return out ?? new Float32Array(0);
}
