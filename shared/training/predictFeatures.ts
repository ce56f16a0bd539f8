/**
 * The teacher's features on the proxy set, for the feature and relation
 * terms: what the coordinator encodes with `encodeFeatures` and serves beside
 * the soft labels. Works on any tfjs LayersModel (a teacher loaded from a
 * model.json too), through a sub-model that ends at the chosen layer.
 */
import * as tf from '@tensorflow/tfjs';
import { DatasetError, DistillationInputError } from '../errors.js';
import type { FeaturePooling } from '../models/index.js';
import { checkFeatures } from './batches.js';

/** The layer name {@link predictFeatures} reports for the default (penultimate) features. */
export const PENULTIMATE_LAYER = 'penultimate';

export interface PredictFeaturesOptions {
  /**
   * Name of the layer whose output is the feature (`model.getLayer(name)`), e.g. the layer a
   * teacher's model.json names. Defaults to the penultimate features: the input of the last
   * (logits) layer.
   */
  layer: string | undefined;
  /** How a rank-4 (convolutional) output becomes one row: 'flatten' or 'average' over height and width. Defaults to 'flatten'. */
  pooling: FeaturePooling;
  /** Samples per `predict` call. Defaults to 256. */
  batchSize: number;
}

/**
 * Row-major [count, width] features of `model` on `x` (inference: dropout off).
 *
 * @throws DistillationInputError naming `layer` when the model has no such layer (the message
 *   lists the layers it has), DatasetError when `x` does not hold `count` inputs.
 */
export function predictFeatures(
  model: tf.LayersModel,
  x: Float32Array,
  count: number,
  options: Readonly<Partial<PredictFeaturesOptions>> = {},
): { values: Float32Array; width: number; layer: string } {
  const batchSize = options.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DistillationInputError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const pooling = options.pooling ?? 'flatten';
  const inputShape = model.inputs[0]?.shape.slice(1).map((d) => d ?? 1);
  if (inputShape === undefined) throw new DatasetError('model has no input');
  checkFeatures(
    'predictFeatures',
    x,
    count,
    inputShape.reduce((a, b) => a * b, 1),
  );
  const output = featureOutput(model, options.layer);
  const featureModel = tf.model({ inputs: model.inputs, outputs: output });
  const featureSize = inputShape.reduce((a, b) => a * b, 1);
  let values: Float32Array | undefined;
  let width = 0;
  for (let start = 0; start < count; start += batchSize) {
    const b = Math.min(batchSize, count - start);
    const rows = tf.tidy(() => {
      const batch = tf.tensor(x.subarray(start * featureSize, (start + b) * featureSize), [
        b,
        ...inputShape,
      ]);
      const h = featureModel.predict(batch) as tf.Tensor;
      if (h.rank === 4 && pooling === 'average') return tf.mean(h, [1, 2]) as tf.Tensor2D;
      return h.reshape([b, -1]) as tf.Tensor2D;
    });
    width = rows.shape[1];
    values ??= new Float32Array(count * width);
    values.set(rows.dataSync(), start * width);
    rows.dispose();
  }
  return {
    values: values ?? new Float32Array(0),
    width,
    layer: options.layer ?? PENULTIMATE_LAYER,
  };
}

function featureOutput(model: tf.LayersModel, layer: string | undefined): tf.SymbolicTensor {
  if (layer === undefined) {
    const last = model.layers[model.layers.length - 1];
    const input = last?.input;
    if (last === undefined || input === undefined || Array.isArray(input)) {
      throw new DistillationInputError(
        'the model has no single-input last layer to take penultimate features from',
      );
    }
    return input;
  }
  let found: tf.layers.Layer;
  try {
    found = model.getLayer(layer);
  } catch {
    throw new DistillationInputError(
      `featureLayer "${layer}" does not exist in the teacher; its layers: ${model.layers.map((l) => l.name).join(', ')}`,
    );
  }
  const output = found.output;
  if (Array.isArray(output)) {
    throw new DistillationInputError(`featureLayer "${layer}" has several outputs`);
  }
  return output;
}
