/**
 * Model specs: a small, JSON-safe description of a sequential student or
 * teacher network. Specs travel over the network and live in config files, so
 * they are validated with a schema (`modelSpecSchema`) and a shape walk
 * (`inferShapes`) before any tfjs model is built from them.
 */
import { z } from 'zod';
import { ModelSpecError } from '../errors.js';

export type Activation = 'relu' | 'linear' | 'tanh' | 'sigmoid';

export type LayerSpec =
  | { type: 'dense'; units: number; activation?: Activation }
  | {
      type: 'conv2d';
      filters: number;
      kernelSize: number;
      activation?: Activation;
      padding?: 'valid' | 'same';
    }
  | { type: 'maxPool2d'; poolSize: number }
  | { type: 'flatten' }
  | { type: 'dropout'; rate: number };

/**
 * A sequential model. The final dense layer to `numClasses` units is implicit
 * and linear: every model built from a spec outputs LOGITS, never probabilities.
 * `inputShape` excludes the batch axis: `[784]` for a flat MLP input,
 * `[28, 28, 1]` (height, width, channels) for a CNN.
 */
export interface ModelSpec {
  name?: string;
  inputShape: number[];
  layers: LayerSpec[];
  numClasses: number;
}

// Generous bounds: they only keep a hostile spec from asking for a model that
// cannot fit in memory.
const MAX_DIM = 1 << 16;
const positiveInt = z.number().int().min(1).max(MAX_DIM);
const activationSchema = z.enum(['relu', 'linear', 'tanh', 'sigmoid']);

export const layerSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('dense'),
    units: positiveInt,
    activation: activationSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('conv2d'),
    filters: positiveInt,
    kernelSize: z.number().int().min(1).max(64),
    activation: activationSchema.optional(),
    padding: z.enum(['valid', 'same']).optional(),
  }),
  z.strictObject({ type: z.literal('maxPool2d'), poolSize: z.number().int().min(1).max(64) }),
  z.strictObject({ type: z.literal('flatten') }),
  z.strictObject({ type: z.literal('dropout'), rate: z.number().min(0).lt(1) }),
]);

/** Parameter count above which a spec is refused (a 784-800-800-10 MLP has ~1.3M). */
export const MAX_SPEC_PARAMETERS = 50_000_000;

/**
 * Runtime schema for specs read from files or peers: structure via zod, then
 * the shape walk of `inferShapes` (layer order, sizes, parameter budget).
 */
export const modelSpecSchema = z
  .strictObject({
    name: z.string().max(200).optional(),
    inputShape: z.array(positiveInt).min(1).max(3),
    layers: z.array(layerSpecSchema).max(64),
    numClasses: z.number().int().min(2).max(MAX_DIM),
  })
  .superRefine((spec, ctx) => {
    try {
      inferShapes(spec);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

/** Shapes derived from a spec, batch axis excluded. */
export interface SpecShapes {
  /** Output shape of each entry of `spec.layers`, in order. */
  layerOutputs: number[][];
  /** Width of the penultimate features (the input of the implicit logits layer). */
  featureSize: number;
  /** Number of trainable parameters the built model will have. */
  parameters: number;
}

/**
 * Walks a spec and returns the shapes it produces; throws ModelSpecError with
 * the offending layer index when a layer cannot follow the previous one
 * (e.g. a conv after a flatten, a pool larger than its input, a dense layer on
 * a rank-2 input). A dense layer after an image-shaped input is allowed: the
 * builder inserts a flatten before it.
 */
export function inferShapes(spec: ModelSpec): SpecShapes {
  if (spec.inputShape.length !== 1 && spec.inputShape.length !== 3) {
    throw new ModelSpecError(
      `inputShape must be [features] or [height, width, channels], got [${spec.inputShape.join(', ')}]`,
    );
  }
  let shape = [...spec.inputShape];
  let parameters = 0;
  const layerOutputs: number[][] = [];
  spec.layers.forEach((layer, i) => {
    const where = `layer ${i} (${layer.type}) on input [${shape.join(', ')}]`;
    switch (layer.type) {
      case 'dense': {
        const inSize = shape.reduce((a, b) => a * b, 1);
        parameters += inSize * layer.units + layer.units;
        shape = [layer.units];
        break;
      }
      case 'conv2d': {
        const [h, w, c] = shape;
        if (h === undefined || w === undefined || c === undefined || shape.length !== 3) {
          throw new ModelSpecError(`${where}: conv2d needs a [height, width, channels] input`);
        }
        const valid = (layer.padding ?? 'valid') === 'valid';
        const oh = valid ? h - layer.kernelSize + 1 : h;
        const ow = valid ? w - layer.kernelSize + 1 : w;
        if (oh < 1 || ow < 1) {
          throw new ModelSpecError(`${where}: kernel ${layer.kernelSize} is larger than the input`);
        }
        parameters += layer.kernelSize * layer.kernelSize * c * layer.filters + layer.filters;
        shape = [oh, ow, layer.filters];
        break;
      }
      case 'maxPool2d': {
        const [h, w, c] = shape;
        if (h === undefined || w === undefined || c === undefined || shape.length !== 3) {
          throw new ModelSpecError(`${where}: maxPool2d needs a [height, width, channels] input`);
        }
        const oh = Math.floor(h / layer.poolSize);
        const ow = Math.floor(w / layer.poolSize);
        if (oh < 1 || ow < 1) {
          throw new ModelSpecError(`${where}: pool ${layer.poolSize} is larger than the input`);
        }
        shape = [oh, ow, c];
        break;
      }
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dropout':
        break;
    }
    layerOutputs.push([...shape]);
  });
  const featureSize = shape.reduce((a, b) => a * b, 1);
  parameters += featureSize * spec.numClasses + spec.numClasses;
  if (parameters > MAX_SPEC_PARAMETERS) {
    throw new ModelSpecError(
      `spec has ${parameters} parameters, more than the limit ${MAX_SPEC_PARAMETERS}`,
    );
  }
  return { layerOutputs, featureSize, parameters };
}

/**
 * Parses an untrusted value (JSON from a file or a peer) into a ModelSpec;
 * throws ModelSpecError listing the schema's complaints.
 */
export function parseModelSpec(value: unknown): ModelSpec {
  const result = modelSpecSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues
      .map((issue) => `${issue.path.join('.') || '(spec)'}: ${issue.message}`)
      .join('; ');
    throw new ModelSpecError(`invalid model spec: ${issues}`);
  }
  return result.data;
}

/**
 * A multilayer perceptron: ReLU hidden layers of the given widths, then the
 * implicit logits layer. `mlpSpec(784, [800, 800], 10)` is the classic
 * MNIST 784-800-800-10 net.
 */
export function mlpSpec(
  inputSize: number,
  hidden: number[],
  numClasses: number,
  name = `mlp-${[inputSize, ...hidden, numClasses].join('-')}`,
): ModelSpec {
  return {
    name,
    inputShape: [inputSize],
    layers: hidden.map((units) => ({ type: 'dense', units, activation: 'relu' })),
    numClasses,
  };
}

export interface CnnSpecOptions {
  /** Image shape `[height, width, channels]`. Defaults to `[28, 28, 1]` (MNIST). */
  inputShape: number[];
  /** Filters of each conv block (3×3 conv, ReLU, 2×2 max pool). Defaults to `[8, 16]`. */
  filters: number[];
  /** Conv kernel size. Defaults to 3. */
  kernelSize: number;
  /** Conv padding. Defaults to 'valid'. */
  padding: 'valid' | 'same';
  /** Widths of the ReLU dense layers after flattening. Defaults to `[64]`. */
  hidden: number[];
  /** Dropout rate before the logits layer; 0 adds no dropout layer. Defaults to 0. */
  dropout: number;
  /** Defaults to 10. */
  numClasses: number;
  /** Defaults to a name built from the filters and widths. */
  name: string;
}

/**
 * A small CNN for MNIST-sized images. With the defaults: conv 8@3×3 → pool 2 →
 * conv 16@3×3 → pool 2 → flatten (400) → dense 64 → logits 10, ~27.6k
 * parameters — small enough to send every round.
 */
export function cnnSpec(options: Readonly<Partial<CnnSpecOptions>> = {}): ModelSpec {
  const filters = options.filters ?? [8, 16];
  const hidden = options.hidden ?? [64];
  const numClasses = options.numClasses ?? 10;
  const kernelSize = options.kernelSize ?? 3;
  const padding = options.padding ?? 'valid';
  const dropout = options.dropout ?? 0;
  const layers: LayerSpec[] = [];
  for (const f of filters) {
    layers.push({ type: 'conv2d', filters: f, kernelSize, activation: 'relu', padding });
    layers.push({ type: 'maxPool2d', poolSize: 2 });
  }
  layers.push({ type: 'flatten' });
  for (const units of hidden) layers.push({ type: 'dense', units, activation: 'relu' });
  if (dropout > 0) layers.push({ type: 'dropout', rate: dropout });
  return {
    name: options.name ?? `cnn-${filters.join('-')}-${hidden.join('-')}-${numClasses}`,
    inputShape: [...(options.inputShape ?? [28, 28, 1])],
    layers,
    numClasses,
  };
}
