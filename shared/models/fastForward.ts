/**
 * A functional forward pass over a built model's own variables, for training.
 * `model.predict` / layers' `apply` use tfjs's stock gradients, which are slow
 * (dense) or missing (conv filter gradient) on the wasm backend; this forward
 * uses the custom-gradient ops of fastOps.ts instead while reading and
 * updating the very same `tf.Variable`s, so an optimizer given
 * `trainableVariables(model)` trains the model in place.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelSpecError } from '../errors.js';
import {
  conv2dFast,
  conv2dFastNoInputGrad,
  denseMatMul,
  denseMatMulNoInputGrad,
} from './fastOps.js';
import type { ConvPadding } from './fastOps.js';
import type { ModelSpec } from './spec.js';

export interface ForwardOutput {
  /** `[B, numClasses]` LOGITS (no softmax). */
  logits: tf.Tensor2D;
  /** `[B, d]` penultimate activations: the input of the final (logits) dense layer, before any dropout that precedes it. */
  features: tf.Tensor2D;
  /**
   * `[B, d]` output of the layer chosen by `FastForwardOptions.featureLayer`, flattened or
   * average-pooled; absent when no layer was chosen.
   */
  layerFeatures?: tf.Tensor2D;
}

/** How a rank-4 (convolutional) layer output becomes `[B, d]`. */
export type FeaturePooling = 'flatten' | 'average';

/**
 * Forward function: `x` is `[B, ...inputShape]` (or flat `[B, prod(inputShape)]`,
 * reshaped), `training` turns dropout on. Call it inside `tf.tidy` or an
 * optimizer's `minimize`; it does not tidy its own outputs.
 */
export type FastForward = (x: tf.Tensor, training: boolean) => ForwardOutput;

export interface FastForwardOptions {
  /**
   * Compute a gradient with respect to the input `x` (for input-gradient
   * methods). Off, the first layer skips that work and `tf.grad` with respect
   * to `x` fails. Defaults to false.
   */
  inputGradients: boolean;
  /** Seed for dropout masks (advanced per call). Defaults to 1. */
  dropoutSeed: number;
  /**
   * Index into `model.layers` whose output is also returned as `layerFeatures` (e.g. a conv
   * block, for a hint loss on convolutional features). Defaults to none.
   */
  featureLayer: number | undefined;
  /**
   * How a rank-4 `featureLayer` output becomes `[B, d]`: 'flatten' (d = H·W·C) or 'average'
   * over height and width (d = C). Defaults to 'flatten'.
   */
  featurePooling: FeaturePooling;
}

type Step = (
  | { kind: 'dense'; kernel: tf.Variable; bias?: tf.Variable; activation: string }
  | {
      kind: 'conv2d';
      kernel: tf.Variable;
      bias?: tf.Variable;
      activation: string;
      padding: ConvPadding;
    }
  | { kind: 'maxPool2d'; poolSize: [number, number]; strides: [number, number] }
  | { kind: 'flatten' }
  | { kind: 'dropout'; rate: number }
) & { layerIndex: number };

const SUPPORTED_ACTIVATIONS = new Set(['relu', 'linear', 'tanh', 'sigmoid']);

function pair(v: unknown, what: string): [number, number] {
  const arr = Array.isArray(v) ? v : [v, v];
  const [a, b] = arr as unknown[];
  if (typeof a !== 'number' || typeof b !== 'number') {
    throw new ModelSpecError(`cannot read ${what} from layer config: ${JSON.stringify(v)}`);
  }
  return [a, b];
}

function variables(layer: tf.layers.Layer): { kernel: tf.Variable; bias?: tf.Variable } {
  const [kernel, bias] = layer.weights.map((w) => w.read() as tf.Variable);
  if (kernel === undefined) throw new ModelSpecError(`layer ${layer.name} has no kernel`);
  return bias === undefined ? { kernel } : { kernel, bias };
}

/** Reads the model's layers into a plan, refusing anything the fast ops do not cover. */
function plan(model: tf.LayersModel): Step[] {
  const steps: Step[] = [];
  model.layers.forEach((layer, layerIndex) => {
    const config = layer.getConfig();
    const cls = layer.getClassName();
    const activation = String(config.activation ?? 'linear');
    if ((cls === 'Dense' || cls === 'Conv2D') && !SUPPORTED_ACTIVATIONS.has(activation)) {
      throw new ModelSpecError(`layer ${layer.name}: activation '${activation}' is not supported`);
    }
    switch (cls) {
      case 'InputLayer':
        break;
      case 'Dense':
        steps.push({ kind: 'dense', ...variables(layer), activation, layerIndex });
        break;
      case 'Conv2D': {
        const strides = pair(config.strides, 'strides');
        const dilation = pair(config.dilationRate ?? 1, 'dilationRate');
        const padding = config.padding;
        if (strides.some((s) => s !== 1) || dilation.some((d) => d !== 1)) {
          throw new ModelSpecError(`layer ${layer.name}: only stride 1, dilation 1 conv2d`);
        }
        if (padding !== 'valid' && padding !== 'same') {
          throw new ModelSpecError(`layer ${layer.name}: padding '${String(padding)}'`);
        }
        if ((config.dataFormat ?? 'channelsLast') !== 'channelsLast') {
          throw new ModelSpecError(`layer ${layer.name}: only channelsLast conv2d`);
        }
        steps.push({ kind: 'conv2d', ...variables(layer), activation, padding, layerIndex });
        break;
      }
      case 'MaxPooling2D': {
        if ((config.padding ?? 'valid') !== 'valid') {
          throw new ModelSpecError(`layer ${layer.name}: only 'valid' max pooling`);
        }
        const poolSize = pair(config.poolSize, 'poolSize');
        const strides = pair(config.strides ?? config.poolSize, 'strides');
        steps.push({ kind: 'maxPool2d', poolSize, strides, layerIndex });
        break;
      }
      case 'Flatten':
        steps.push({ kind: 'flatten', layerIndex });
        break;
      case 'Dropout':
        steps.push({ kind: 'dropout', rate: Number(config.rate), layerIndex });
        break;
      default:
        throw new ModelSpecError(
          `layer ${layer.name}: ${cls} is not supported by the fast forward`,
        );
    }
  });
  return steps;
}

function activate(x: tf.Tensor, activation: string): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    default:
      return x;
  }
}

/**
 * Creates the fast forward of a sequential model built by `buildModel` (or
 * loaded from such a checkpoint). `spec` is checked against the model's input
 * shape and class count. Outputs match `model.predict` (inference) up to float
 * rounding. Throws ModelSpecError for layers it does not support.
 */
export function createFastForward(
  model: tf.LayersModel,
  spec: ModelSpec,
  options: Readonly<Partial<FastForwardOptions>> = {},
): FastForward {
  const steps = plan(model);
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1).map((d) => d ?? -1);
  if (inputShape.join(',') !== spec.inputShape.join(',')) {
    throw new ModelSpecError(
      `model input [${inputShape.join(', ')}] does not match spec input [${spec.inputShape.join(', ')}]`,
    );
  }
  const last = steps[steps.length - 1];
  if (last?.kind !== 'dense' || last.activation !== 'linear') {
    throw new ModelSpecError('the model must end with a linear dense (logits) layer');
  }
  if (last.kernel.shape[1] !== spec.numClasses) {
    throw new ModelSpecError(
      `model has ${last.kernel.shape[1]} outputs but the spec says ${spec.numClasses} classes`,
    );
  }
  const featureLayer = options.featureLayer;
  const featurePooling = options.featurePooling ?? 'flatten';
  if (featureLayer !== undefined) {
    const tapped = steps.find((step) => step.layerIndex === featureLayer);
    if (tapped === undefined || tapped === last) {
      throw new ModelSpecError(
        `featureLayer ${featureLayer} is not a hidden layer of this model: it has layers ` +
          `0..${model.layers.length - 1}, the last being the logits layer`,
      );
    }
  }
  const inputGradients = options.inputGradients ?? false;
  let dropoutSeed = options.dropoutSeed ?? 1;

  return (x: tf.Tensor, training: boolean): ForwardOutput => {
    let h: tf.Tensor = x.reshape([-1, ...spec.inputShape]);
    // Output of the latest non-dropout step: the features are taken before a
    // dropout that directly precedes the logits layer.
    let beforeDropout = h;
    let features = h;
    let first = !inputGradients;
    let layerFeatures: tf.Tensor | undefined;
    steps.forEach((step, i) => {
      if (i > 0 && steps[i - 1]?.layerIndex === featureLayer) layerFeatures = h;
      if (i === steps.length - 1) features = beforeDropout;
      switch (step.kind) {
        case 'dense': {
          if (h.rank !== 2) {
            throw new ModelSpecError(`dense layer on a rank-${h.rank} tensor; flatten first`);
          }
          const kernel = step.kernel as tf.Tensor2D;
          let y: tf.Tensor = first
            ? denseMatMulNoInputGrad(h as tf.Tensor2D, kernel)
            : denseMatMul(h as tf.Tensor2D, kernel);
          if (step.bias !== undefined) y = tf.add(y, step.bias);
          h = activate(y, step.activation);
          first = false;
          break;
        }
        case 'conv2d': {
          const kernel = step.kernel as tf.Tensor4D;
          const h4 = h as tf.Tensor4D;
          let y: tf.Tensor = first
            ? conv2dFastNoInputGrad(h4, kernel, step.padding)
            : conv2dFast(h4, kernel, step.padding);
          if (step.bias !== undefined) y = tf.add(y, step.bias);
          h = activate(y, step.activation);
          first = false;
          break;
        }
        case 'maxPool2d':
          h = tf.maxPool(h as tf.Tensor4D, step.poolSize, step.strides, 'valid');
          break;
        case 'flatten':
          h = h.reshape([h.shape[0] ?? -1, -1]);
          break;
        case 'dropout':
          if (training && step.rate > 0) h = tf.dropout(h, step.rate, undefined, dropoutSeed++);
          return;
      }
      beforeDropout = h;
    });
    const out: ForwardOutput = { logits: h as tf.Tensor2D, features: features as tf.Tensor2D };
    if (layerFeatures !== undefined)
      out.layerFeatures = poolFeatures(layerFeatures, featurePooling);
    return out;
  };
}

/** A layer output as `[B, d]`: rank 2 as is, rank 4 flattened or averaged over height and width. */
function poolFeatures(h: tf.Tensor, pooling: FeaturePooling): tf.Tensor2D {
  if (h.rank === 2) return h as tf.Tensor2D;
  if (pooling === 'average' && h.rank === 4) return tf.mean(h, [1, 2]) as tf.Tensor2D;
  return h.reshape([h.shape[0] ?? -1, -1]);
}

/**
 * The model's trainable variables in `model.trainableWeights` order: the list
 * to hand an optimizer together with a FastForward.
 */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}
