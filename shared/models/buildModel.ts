/**
 * Builds tfjs models from specs and moves their weights around as one flat
 * Float32Array (the form FedAvg and the wire codec work on).
 */
import * as tf from '@tensorflow/tfjs';
import { ModelSpecError } from '../errors.js';
import { inferShapes } from './spec.js';
import type { ModelSpec } from './spec.js';

/** Distinct seed per layer so layers of the same shape do not start identical. */
function layerSeed(seed: number | undefined, index: number): number | undefined {
  return seed === undefined ? undefined : (seed * 1009 + index * 7919 + 17) >>> 0;
}

/**
 * Builds a `tf.Sequential` from a spec using only standard tfjs layers, so a
 * checkpoint saved with `model.save` loads with `tf.loadLayersModel` anywhere.
 * Kernels use Glorot-uniform initialisers seeded from `seed` (same seed, same
 * weights); biases start at zero. Without a seed the weights are random.
 * A flatten is inserted before a dense layer that follows an image-shaped
 * tensor. Output: LOGITS `[batch, numClasses]` (linear last layer, no softmax).
 * Throws ModelSpecError when the spec's shapes do not work out.
 */
export function buildModel(spec: ModelSpec, seed?: number): tf.Sequential {
  inferShapes(spec);
  const model = tf.sequential(spec.name === undefined ? {} : { name: sanitizeName(spec.name) });
  let rank = spec.inputShape.length;
  let index = 0;
  const first = (): { inputShape?: number[] } =>
    model.layers.length === 0 ? { inputShape: [...spec.inputShape] } : {};
  const addDense = (units: number, activation: string): void => {
    if (rank > 1) {
      model.add(tf.layers.flatten(first()));
      rank = 1;
    }
    model.add(
      tf.layers.dense({
        ...first(),
        units,
        activation: activation as 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed(seed, index++) }),
        biasInitializer: 'zeros',
      }),
    );
  };
  for (const layer of spec.layers) {
    switch (layer.type) {
      case 'dense':
        addDense(layer.units, layer.activation ?? 'linear');
        break;
      case 'conv2d':
        model.add(
          tf.layers.conv2d({
            ...first(),
            filters: layer.filters,
            kernelSize: layer.kernelSize,
            padding: layer.padding ?? 'valid',
            activation: (layer.activation ?? 'linear') as 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed(seed, index++) }),
            biasInitializer: 'zeros',
          }),
        );
        break;
      case 'maxPool2d':
        model.add(tf.layers.maxPooling2d({ ...first(), poolSize: layer.poolSize }));
        break;
      case 'flatten':
        model.add(tf.layers.flatten(first()));
        rank = 1;
        break;
      case 'dropout':
        model.add(tf.layers.dropout({ ...first(), rate: layer.rate }));
        break;
    }
  }
  addDense(spec.numClasses, 'linear');
  return model;
}

function sanitizeName(name: string): string {
  // tfjs model names end up in weight names; keep them to a safe alphabet.
  return name.replace(/[^A-Za-z0-9_.-]/g, '_') || 'model';
}

/** Total number of weights (all variables, trainable or not). */
export function countParameters(model: tf.LayersModel): number {
  return weightSegments(model).reduce((a, b) => a + b, 0);
}

/** Length of each weight tensor in `model.weights` order (the flat layout's segments). */
export function weightSegments(model: tf.LayersModel): number[] {
  return model.weights.map((w) => w.read().size);
}

/**
 * All weights concatenated in `model.weights` order (kernel then bias per
 * layer) as one Float32Array copy.
 */
export function getFlatWeights(model: tf.LayersModel): Float32Array {
  const segments = weightSegments(model);
  const flat = new Float32Array(segments.reduce((a, b) => a + b, 0));
  let offset = 0;
  model.weights.forEach((w, i) => {
    flat.set(w.read().dataSync() as Float32Array, offset);
    offset += segments[i] ?? 0;
  });
  return flat;
}

/**
 * Writes a flat weight vector (layout of `getFlatWeights`) into the model's
 * variables in place. Throws ModelSpecError on a length mismatch or a
 * non-finite value, leaving the model unchanged.
 */
export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const segments = weightSegments(model);
  const total = segments.reduce((a, b) => a + b, 0);
  if (flat.length !== total) {
    throw new ModelSpecError(
      `flat weights have ${flat.length} values but the model has ${total} (segments ${segments.join(', ')})`,
    );
  }
  for (let i = 0; i < flat.length; i++) {
    if (!Number.isFinite(flat[i])) {
      throw new ModelSpecError(`flat weights hold a non-finite value at index ${i}`);
    }
  }
  let offset = 0;
  model.weights.forEach((w, i) => {
    const length = segments[i] ?? 0;
    const variable = w.read() as tf.Variable;
    // slice, not subarray: the cpu backend keeps the array it is given, and the
    // caller may reuse `flat`.
    const value = tf.tensor(flat.slice(offset, offset + length), variable.shape, 'float32');
    variable.assign(value);
    value.dispose();
    offset += length;
  });
}
