/**
 * Converting a tfjs layers model into an ONNX model in memory, so that ONNX
 * Runtime's native CPU provider can compute a tfjs teacher's soft labels and
 * features (tfjs-wasm runs one XNNPACK thread per process in Node). The
 * protobuf is written with `onnx-proto`, the definitions onnxGraph.ts reads
 * ONNX files with.
 *
 * Supported: InputLayer, Dense, Conv2D (channels-last, valid/same padding,
 * strides, dilation), MaxPooling2D, AveragePooling2D, Flatten, Dropout (and
 * the other noise layers: identity at inference), BatchNormalization on the
 * last axis, Activation; activations linear, relu, relu6, elu, selu, tanh,
 * sigmoid, hardSigmoid, softplus, softsign, softmax, swish. Anything else
 * throws UnsupportedLayerError naming the layer, and the caller keeps tfjs.
 *
 * tfjs image tensors are channels-last (NHWC); ONNX's Conv and pools are
 * channels-first (NCHW). The graph transposes once into NCHW before the
 * first conv or pool and back to NHWC where order matters (before Flatten,
 * Dense, softmax and every feature output), so flattened values come out in
 * exactly tfjs's order.
 */
import type * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import type { onnx as proto } from 'onnx-proto';

// A CommonJS module: its named export is only on the default object under ESM.
const { onnx } = onnxProto;

const ONNX_FLOAT = 1;
/** Opset 13: Softmax over one axis, Clip's bounds as inputs, Gemm's bias optional. */
const OPSET = 13;
/** The IR version that goes with opset 13. */
const IR_VERSION = 7;

export const ONNX_INPUT_NAME = 'input';
export const ONNX_LOGITS_NAME = 'logits';

/** A layer (or a layer's setting) the converter does not handle: the tfjs path keeps it. */
export class UnsupportedLayerError extends Error {
  constructor(
    readonly layer: string,
    readonly className: string,
    detail: string,
  ) {
    super(`layer '${layer}' (${className}) cannot be converted to ONNX: ${detail}`);
    this.name = 'UnsupportedLayerError';
  }
}

export interface OnnxConversion {
  /** The encoded ModelProto. */
  bytes: Uint8Array;
  inputName: string;
  /** The first graph output: the model's first output, as tfjs computes it. */
  logitsName: string;
  /** Graph output holding each requested feature layer's activations (channels-last, like tfjs). */
  featureOutputs: ReadonlyMap<string, string>;
  /** How many ONNX nodes the graph has (for the log line). */
  nodeCount: number;
}

export interface LayersToOnnxOptions {
  /** Layers whose outputs become extra graph outputs, for feature distillation. Defaults to none. */
  featureLayers?: readonly string[];
}

/** A value in the graph: its name, tfjs shape without the batch axis, and memory layout. */
interface Value {
  name: string;
  shape: number[];
  /** `nchw` only for image tensors (shape [h, w, c]) moved to channels-first for Conv and pools. */
  layout: 'nhwc' | 'nchw';
}

type Attribute = proto.IAttributeProto;

function intsAttr(name: string, ints: number[]): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}
function intAttr(name: string, i: number): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}
function floatAttr(name: string, f: number): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

function valueInfo(name: string, shape: readonly number[]): proto.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_FLOAT,
        shape: { dim: [{ dimParam: 'batch' }, ...shape.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}

/** Accumulates nodes and initializers; each helper returns the name of the tensor it made. */
class GraphBuilder {
  readonly nodes: proto.INodeProto[] = [];
  readonly initializers: proto.ITensorProto[] = [];
  private counter = 0;

  fresh(hint: string): string {
    this.counter += 1;
    return `${hint}_${this.counter}`;
  }

  constant(hint: string, dims: number[], values: Float32Array): string {
    const name = this.fresh(hint);
    // A copy: the caller's array may be a view into a tfjs backend's memory.
    const data = Float32Array.from(values);
    this.initializers.push({
      name,
      dims,
      dataType: ONNX_FLOAT,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  node(opType: string, inputs: string[], attributes: Attribute[] = [], output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      input: inputs,
      output: [out],
      name: this.fresh(`${opType}_node`),
      attribute: attributes,
    });
    return out;
  }
}

/**
 * What Conv2D and the pools share: channels-last [h, w, c] input and valid/same padding.
 * @returns the layer's padding; throws `unsupported(…)` for anything else.
 */
function imagePadding(
  config: Record<string, unknown>,
  input: Value,
  unsupported: (detail: string) => UnsupportedLayerError,
): 'valid' | 'same' {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast')
    throw unsupported(`data format ${String(config.dataFormat)} (only channelsLast)`);
  if (input.shape.length !== 3) throw unsupported(`input of shape [${input.shape.join(', ')}]`);
  const padding = config.padding;
  if (padding !== 'valid' && padding !== 'same')
    throw unsupported(`padding '${String(padding)}' (only valid and same)`);
  return padding;
}

/** Reads one numeric pair setting (`[2, 2]` or `2`) of a layer config. */
function pair(value: unknown, what: string, layer: tf.layers.Layer): [number, number] {
  const values = typeof value === 'number' ? [value, value] : value;
  if (
    Array.isArray(values) &&
    values.length === 2 &&
    values.every((v) => typeof v === 'number' && Number.isInteger(v) && v > 0)
  )
    return [values[0] as number, values[1] as number];
  throw new UnsupportedLayerError(
    layer.name,
    layer.getClassName(),
    `${what} ${JSON.stringify(value)} is not a pair of positive integers`,
  );
}

/** TensorFlow's 'same' padding: output ceil(in / stride), the odd pixel of padding at the end. */
function samePads(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function outputSize(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: 'valid' | 'same',
): number {
  if (padding === 'same') return Math.ceil(size / stride);
  return Math.floor((size - (kernel - 1) * dilation - 1) / stride) + 1;
}

const SUPPORTED_ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'tanh',
  'sigmoid',
  'hardSigmoid',
  'softplus',
  'softsign',
  'softmax',
  'swish',
] as const;

class Converter {
  private readonly graph = new GraphBuilder();

  constructor(private readonly model: tf.LayersModel) {}

  toNchw(value: Value): Value {
    if (value.layout === 'nchw') return value;
    return {
      name: this.graph.node('Transpose', [value.name], [intsAttr('perm', [0, 3, 1, 2])]),
      shape: value.shape,
      layout: 'nchw',
    };
  }

  toNhwc(value: Value, output?: string): Value {
    if (value.layout === 'nhwc') {
      return output === undefined
        ? value
        : { ...value, name: this.graph.node('Identity', [value.name], [], output) };
    }
    return {
      name: this.graph.node('Transpose', [value.name], [intsAttr('perm', [0, 2, 3, 1])], output),
      shape: value.shape,
      layout: 'nhwc',
    };
  }

  activation(value: Value, name: unknown, layer: tf.layers.Layer): Value {
    const activation = typeof name === 'string' ? name : 'linear';
    const g = this.graph;
    const elementwise = (op: string, attributes: Attribute[] = []): Value => ({
      ...value,
      name: g.node(op, [value.name], attributes),
    });
    switch (activation) {
      case 'linear':
        return value;
      case 'relu':
        return elementwise('Relu');
      case 'relu6':
        return {
          ...value,
          name: g.node('Clip', [
            value.name,
            g.constant('zero', [], Float32Array.of(0)),
            g.constant('six', [], Float32Array.of(6)),
          ]),
        };
      case 'elu':
        return elementwise('Elu', [floatAttr('alpha', 1)]);
      case 'selu':
        // ONNX's default alpha and gamma are tfjs's SELU constants (to float32).
        return elementwise('Selu');
      case 'tanh':
        return elementwise('Tanh');
      case 'sigmoid':
        return elementwise('Sigmoid');
      case 'hardSigmoid':
        // tfjs: clip(0.2·x + 0.5, 0, 1).
        return elementwise('HardSigmoid', [floatAttr('alpha', 0.2), floatAttr('beta', 0.5)]);
      case 'softplus':
        return elementwise('Softplus');
      case 'softsign':
        return elementwise('Softsign');
      case 'softmax': {
        // tfjs takes softmax over the last axis of the channels-last tensor.
        const nhwc = this.toNhwc(value);
        return { ...nhwc, name: g.node('Softmax', [nhwc.name], [intAttr('axis', -1)]) };
      }
      case 'swish':
        return { ...value, name: g.node('Mul', [value.name, g.node('Sigmoid', [value.name])]) };
      default:
        throw new UnsupportedLayerError(
          layer.name,
          layer.getClassName(),
          `activation '${activation}' is not supported (supported: ${SUPPORTED_ACTIVATIONS.join(', ')})`,
        );
    }
  }

  weights(layer: tf.layers.Layer): Map<string, { shape: number[]; values: Float32Array }> {
    const out = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const weight of layer.weights) {
      const tensor = weight.read();
      // The last path segment of the name it was created under: 'dense_Dense1/kernel' → 'kernel'
      // (a loaded model's variables are renamed 'kernel_1' and so on).
      const key = weight.originalName.split('/').at(-1)!;
      out.set(key, { shape: [...tensor.shape], values: tensor.dataSync() as Float32Array });
    }
    return out;
  }

  layer(layer: tf.layers.Layer, input: Value): Value {
    const className = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    const unsupported = (detail: string): UnsupportedLayerError =>
      new UnsupportedLayerError(layer.name, className, detail);
    const g = this.graph;
    switch (className) {
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        // Identity at inference, as tfjs's predict runs them.
        return input;
      case 'Activation':
        return this.activation(input, config.activation, layer);
      case 'Flatten': {
        const nhwc = this.toNhwc(input);
        const size = input.shape.reduce((a, b) => a * b, 1);
        return {
          name: g.node('Flatten', [nhwc.name], [intAttr('axis', 1)]),
          shape: [size],
          layout: 'nhwc',
        };
      }
      case 'Dense': {
        const weights = this.weights(layer);
        const kernel = weights.get('kernel');
        if (!kernel || kernel.shape.length !== 2) throw unsupported('it has no 2-D kernel');
        const bias = weights.get('bias');
        const units = kernel.shape[1]!;
        const kernelName = g.constant('kernel', kernel.shape, kernel.values);
        const biasName = bias ? g.constant('bias', [units], bias.values) : undefined;
        let out: string;
        const nhwc = this.toNhwc(input);
        if (input.shape.length === 1) {
          // Gemm: x·W + b in one fused call (MLAS's SGEMM).
          out = g.node('Gemm', [nhwc.name, kernelName, ...(biasName ? [biasName] : [])]);
        } else {
          // tfjs applies a dense layer to the last axis of a higher-rank input.
          const product = g.node('MatMul', [nhwc.name, kernelName]);
          out = biasName ? g.node('Add', [product, biasName]) : product;
        }
        const value: Value = {
          name: out,
          shape: [...input.shape.slice(0, -1), units],
          layout: 'nhwc',
        };
        return this.activation(value, config.activation, layer);
      }
      case 'Conv2D': {
        const padding = imagePadding(config, input, unsupported);
        const [kh, kw] = pair(config.kernelSize, 'kernelSize', layer);
        const [sh, sw] = pair(config.strides ?? 1, 'strides', layer);
        const [dh, dw] = pair(config.dilationRate ?? 1, 'dilationRate', layer);
        const weights = this.weights(layer);
        const kernel = weights.get('kernel');
        if (!kernel || kernel.shape.length !== 4) throw unsupported('it has no 4-D kernel');
        const [, , inC, outC] = kernel.shape as [number, number, number, number];
        if (inC !== input.shape[2]) throw unsupported(`kernel of ${inC} input channels`);
        // tfjs [kh, kw, in, out] → ONNX [out, in, kh, kw].
        const reordered = new Float32Array(kernel.values.length);
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let i = 0; i < inC; i++)
              for (let o = 0; o < outC; o++)
                reordered[((o * inC + i) * kh + y) * kw + x] =
                  kernel.values[((y * kw + x) * inC + i) * outC + o]!;
        const bias = weights.get('bias');
        const [h, w] = input.shape as [number, number, number];
        const [top, bottom] = padding === 'same' ? samePads(h, kh, sh, dh) : [0, 0];
        const [left, right] = padding === 'same' ? samePads(w, kw, sw, dw) : [0, 0];
        const nchw = this.toNchw(input);
        const out = g.node(
          'Conv',
          [
            nchw.name,
            g.constant('kernel', [outC, inC, kh, kw], reordered),
            ...(bias ? [g.constant('bias', [outC], bias.values)] : []),
          ],
          [
            intsAttr('kernel_shape', [kh, kw]),
            intsAttr('strides', [sh, sw]),
            intsAttr('dilations', [dh, dw]),
            intsAttr('pads', [top, left, bottom, right]),
          ],
        );
        const value: Value = {
          name: out,
          shape: [outputSize(h, kh, sh, dh, padding), outputSize(w, kw, sw, dw, padding), outC],
          layout: 'nchw',
        };
        return this.activation(value, config.activation, layer);
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const padding = imagePadding(config, input, unsupported);
        const [kh, kw] = pair(config.poolSize, 'poolSize', layer);
        const [sh, sw] = pair(config.strides ?? config.poolSize, 'strides', layer);
        const [h, w, c] = input.shape as [number, number, number];
        const [top, bottom] = padding === 'same' ? samePads(h, kh, sh, 1) : [0, 0];
        const [left, right] = padding === 'same' ? samePads(w, kw, sw, 1) : [0, 0];
        const nchw = this.toNchw(input);
        // AveragePool leaves padding out of the count by default, as TensorFlow does.
        const out = g.node(
          className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool',
          [nchw.name],
          [
            intsAttr('kernel_shape', [kh, kw]),
            intsAttr('strides', [sh, sw]),
            intsAttr('pads', [top, left, bottom, right]),
          ],
        );
        return {
          name: out,
          shape: [outputSize(h, kh, sh, 1, padding), outputSize(w, kw, sw, 1, padding), c],
          layout: 'nchw',
        };
      }
      case 'BatchNormalization': {
        const rank = input.shape.length + 1;
        const axis = typeof config.axis === 'number' ? config.axis : -1;
        if (axis !== -1 && axis !== rank - 1)
          throw unsupported(`normalisation over axis ${axis} (only the last axis)`);
        const epsilon = typeof config.epsilon === 'number' ? config.epsilon : 1e-3;
        const weights = this.weights(layer);
        const mean = weights.get('moving_mean');
        const variance = weights.get('moving_variance');
        if (!mean || !variance) throw unsupported('it has no moving mean and variance');
        const channels = mean.values.length;
        const gamma = weights.get('gamma')?.values;
        const beta = weights.get('beta')?.values;
        // Inference: y = (x - mean)·gamma/sqrt(var + eps) + beta, folded into one scale and shift.
        const scale = new Float32Array(channels);
        const shift = new Float32Array(channels);
        for (let k = 0; k < channels; k++) {
          const s = (gamma?.[k] ?? 1) / Math.sqrt(variance.values[k]! + epsilon);
          scale[k] = s;
          shift[k] = (beta?.[k] ?? 0) - mean.values[k]! * s;
        }
        // Channels-first data broadcasts a [C, 1, 1] constant; channels-last a [C] one.
        const dims = input.layout === 'nchw' ? [channels, 1, 1] : [channels];
        const scaled = g.node('Mul', [input.name, g.constant('bn_scale', dims, scale)]);
        return { ...input, name: g.node('Add', [scaled, g.constant('bn_shift', dims, shift)]) };
      }
      default:
        throw unsupported('no ONNX conversion for this layer type');
    }
  }

  convert(options: LayersToOnnxOptions): OnnxConversion {
    const model = this.model;
    if (model.inputs.length !== 1)
      throw new UnsupportedLayerError(
        model.name,
        'LayersModel',
        `${model.inputs.length} inputs (only one)`,
      );
    const input = model.inputs[0]!;
    const inputShape = input.shape.slice(1);
    if (inputShape.some((d) => d === null || d < 1))
      throw new UnsupportedLayerError(
        model.name,
        'LayersModel',
        `input shape ${JSON.stringify(input.shape)} is not fixed`,
      );
    const wanted = new Set(options.featureLayers ?? []);
    const values = new Map<number, Value>([
      [input.id, { name: ONNX_INPUT_NAME, shape: inputShape as number[], layout: 'nhwc' }],
    ]);
    const featureOutputs = new Map<string, string>();
    const outputs: proto.IValueInfoProto[] = [];
    for (const layer of model.layers) {
      if (layer.getClassName() === 'InputLayer') continue;
      if (layer.inboundNodes.length !== 1)
        throw new UnsupportedLayerError(
          layer.name,
          layer.getClassName(),
          `it is called ${layer.inboundNodes.length} times in the model (shared layers are not supported)`,
        );
      if (Array.isArray(layer.input) || Array.isArray(layer.output))
        throw new UnsupportedLayerError(
          layer.name,
          layer.getClassName(),
          'it has several inputs or outputs (only chains of single-input layers convert)',
        );
      const from = values.get(layer.input.id);
      if (!from)
        throw new UnsupportedLayerError(
          layer.name,
          layer.getClassName(),
          'its input is not the output of a converted layer',
        );
      const value = this.layer(layer, from);
      values.set(layer.output.id, value);
      if (wanted.has(layer.name)) {
        // Its own named output (an Identity when no transpose is needed), channels-last like tfjs.
        const name = `feature:${layer.name}`;
        this.toNhwc(value, name);
        featureOutputs.set(layer.name, name);
        outputs.push(valueInfo(name, value.shape));
      }
    }
    for (const name of wanted) {
      if (!featureOutputs.has(name))
        throw new Error(`layers model ${model.name} has no layer '${name}' to read features from`);
    }
    const last = values.get(model.outputs[0]!.id);
    if (!last)
      throw new UnsupportedLayerError(
        model.name,
        'LayersModel',
        'its output is not produced by a converted layer',
      );
    const graph = this.graph;
    const lastNode = graph.nodes.at(-1);
    if (last.layout === 'nhwc' && lastNode?.output?.[0] === last.name) {
      // The last node's output is the logits already (nothing after it reads it): name it so.
      lastNode.output = [ONNX_LOGITS_NAME];
    } else {
      this.toNhwc(last, ONNX_LOGITS_NAME);
    }
    outputs.unshift(valueInfo(ONNX_LOGITS_NAME, last.shape));

    const modelProto = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'fedistill layersToOnnx',
      graph: {
        name: model.name,
        node: graph.nodes,
        initializer: graph.initializers,
        input: [valueInfo(ONNX_INPUT_NAME, inputShape as number[])],
        output: outputs,
      },
    });
    return {
      bytes: onnx.ModelProto.encode(modelProto).finish(),
      inputName: ONNX_INPUT_NAME,
      logitsName: ONNX_LOGITS_NAME,
      featureOutputs,
      nodeCount: graph.nodes.length,
    };
  }
}

/**
 * An ONNX model computing what `model.predict` computes (its first output),
 * plus each of `featureLayers`' activations as extra outputs. Throws
 * UnsupportedLayerError naming the first layer it cannot convert.
 */
export function layersModelToOnnx(
  model: tf.LayersModel,
  options: Readonly<LayersToOnnxOptions> = {},
): OnnxConversion {
  return new Converter(model).convert(options);
}
