/**
 * Reading an ONNX file's graph (with the `onnx-proto` protobuf definitions)
 * for what ONNX Runtime does not say: the names of intermediate tensors,
 * which feature distillation reads by adding one as an extra graph output,
 * and the parameter count. A file that does not decode is refused here with
 * its path, before ONNX Runtime sees it.
 */
import onnxProto from 'onnx-proto';
import type { onnx as proto } from 'onnx-proto';

// A CommonJS module: its named export is only on the default object under ESM.
const { onnx } = onnxProto;

/** ONNX TensorProto.DataType FLOAT. */
const ONNX_FLOAT = 1;

export interface OnnxGraphInfo {
  inputName: string;
  /** Dims of the input, the first (batch) axis included; `null` where the file names a symbolic dim. */
  inputDims: (number | null)[];
  outputNames: string[];
  /** Dims of each graph output, as for the input. */
  outputDims: (number | null)[][];
  /** Every node output in graph order (intermediate tensors and graph outputs alike). */
  tensorNames: string[];
  /** The first input of the node producing the first output: the penultimate activations of a classifier. */
  logitsInput?: string;
  numParams: number;
  opsets: string;
}

function dimsOf(value: proto.IValueInfoProto): (number | null)[] {
  const dims = value.type?.tensorType?.shape?.dim ?? [];
  return dims.map((d) => {
    const v = d.dimValue;
    if (v === null || v === undefined) return null;
    const n = typeof v === 'number' ? v : Number(v.toString());
    return n > 0 ? n : null;
  });
}

/** The decoded arrays are always present (protobufjs fills repeated fields with []); the generated types do not say so. */
interface Graph {
  node: { input: string[]; output: string[] }[];
  input: (proto.IValueInfoProto & { name: string })[];
  output: (proto.IValueInfoProto & { name: string })[];
  initializer: { name: string; dims: { toString(): string }[] }[];
}

export function decodeOnnxModel(bytes: Uint8Array, path: string): proto.ModelProto {
  let model: proto.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new Error(
      `${path} is not a readable ONNX model (${(error as Error).message}; ${bytes.byteLength} bytes): a truncated or corrupt .onnx file?`,
      { cause: error },
    );
  }
  const graph = model.graph as unknown as Graph | null | undefined;
  if (!graph || graph.node.length === 0 || graph.output.length === 0) {
    throw new Error(
      `${path} is not an ONNX model: it holds no graph with nodes and outputs (${bytes.byteLength} bytes)`,
    );
  }
  return model;
}

export function readOnnxGraph(model: proto.ModelProto, path: string): OnnxGraphInfo {
  const graph = model.graph as unknown as Graph;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new Error(
      `${path}: an ONNX teacher needs exactly one input, the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`,
    );
  }
  const input = inputs[0]!;
  const elemType = input.type?.tensorType?.elemType;
  if (elemType !== ONNX_FLOAT) {
    throw new Error(
      `${path}: input '${input.name}' has ONNX element type ${elemType ?? 'unknown'}, an ONNX teacher needs float32 (type 1)`,
    );
  }
  const inputDims = dimsOf(input);
  if (inputDims.length < 2 || inputDims.slice(1).some((d) => d === null)) {
    throw new Error(
      `${path}: input '${input.name}' needs a fixed shape after the batch axis, got [${inputDims.map((d) => d ?? '?').join(', ')}]`,
    );
  }
  const outputNames = graph.output.map((o) => o.name);
  const nodeOutputs = graph.node.flatMap((n) => n.output);
  const producer = graph.node.find((n) => n.output.includes(outputNames[0]!));
  const numParams = graph.initializer.reduce(
    (n, t) => n + t.dims.reduce<number>((m, d) => m * Number(d.toString()), 1),
    0,
  );
  const logitsInput = producer?.input[0] ?? undefined;
  return {
    inputName: input.name,
    inputDims,
    outputNames,
    outputDims: graph.output.map(dimsOf),
    tensorNames: nodeOutputs.filter((name) => name !== ''),
    ...(logitsInput ? { logitsInput } : {}),
    numParams,
    opsets: model.opsetImport
      .map((o) => `${o.domain || 'ai.onnx'} ${o.version?.toString() ?? '?'}`)
      .join(', '),
  };
}

/** The model re-encoded with `tensor` as an extra graph output, so ONNX Runtime can return it. */
export function withExtraOutput(bytes: Uint8Array, tensor: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  // Type information is optional for an output; ONNX Runtime infers it.
  (model.graph as unknown as Graph).output.push(
    onnx.ValueInfoProto.create({ name: tensor }) as Graph['output'][number],
  );
  return onnx.ModelProto.encode(model).finish();
}
