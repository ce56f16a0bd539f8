/**
 * A teacher from an ONNX file (the common export of PyTorch models), run by
 * ONNX Runtime. The first graph output is the classifier's output (logits,
 * or probabilities: see `outputs`); any other tensor of the graph can serve
 * as features, read by adding it as an extra output of a second session.
 * Inputs are fed in the data's row-major order reshaped to the model's input
 * shape (e.g. `[N, 1, 28, 28]` for a flat 784-pixel row). fedistill's image
 * rows are channels-last (`[height, width, channels]`); a channels-first
 * model (PyTorch's NCHW) with more than one channel gets each row transposed
 * to `[channels, height, width]` first.
 */
import { createHash } from 'node:crypto';
import type { InferenceSession } from 'onnxruntime-node';
import { readModelFile } from '../../node/modelFiles.js';
import { decodeOnnxModel, readOnnxGraph, withExtraOutput } from './onnxGraph.js';
import type { OnnxGraphInfo } from './onnxGraph.js';
import type { OnnxProvider, OnnxProviderAttempt, OrtModule } from './onnxProviders.js';
import { createOnnxSession, describeProviderChoice, importOnnxRuntime } from './onnxProviders.js';
import type { Teacher, TeacherFeatures, TeacherOutputs } from './teacher.js';
import { looksLikeProbabilities, toLogits, unknownFeatureLayer } from './teacher.js';

const BATCH = 256;

export interface OnnxTeacherOptions {
  /** Defaults to 'auto' (decided on the first batch). */
  outputs: TeacherOutputs;
  /** Execution provider. Defaults to 'auto' (CUDA when installed and working, else CPU). */
  provider: OnnxProvider;
  /** Tensor `features` returns by default; checked at load. Defaults to the second graph output, else the input of the node producing the logits. */
  featureLayer: string;
  /**
   * Layout of a rank-4 model input: `nchw` (PyTorch) transposes the data's
   * channels-last rows when there is more than one channel; `nhwc` feeds them
   * as they are. Defaults to 'nchw'.
   */
  inputLayout: 'nchw' | 'nhwc';
  log: (message: string) => void;
}

export type OnnxTeacher = Teacher & {
  /** The provider that runs it and why others did not. */
  readonly providers: readonly OnnxProviderAttempt[];
};

function toFloat32(data: unknown, type: string, what: string): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  // float16 arrives as raw Uint16 bits; reading them as numbers would be silently wrong.
  throw new Error(
    `${what} is a ${type} tensor; an ONNX teacher needs float32 (or float64) outputs`,
  );
}

export async function loadOnnxTeacher(
  path: string,
  options: Readonly<Partial<OnnxTeacherOptions>> = {},
): Promise<OnnxTeacher> {
  const bytes = new Uint8Array(await readModelFile(path, 'ONNX teacher'));
  const graph = readOnnxGraph(decodeOnnxModel(bytes, path), path);
  const ort = await importOnnxRuntime();
  const provider = options.provider ?? 'auto';
  const main = await createOnnxSession(ort, bytes, { provider, path });
  options.log?.(describeProviderChoice(main.provider, main.tried));
  try {
    return await onnxTeacherOver(path, bytes, graph, ort, main, options);
  } catch (error) {
    await main.session.release();
    throw error;
  }
}

async function onnxTeacherOver(
  path: string,
  bytes: Uint8Array,
  graph: OnnxGraphInfo,
  ort: OrtModule,
  main: Awaited<ReturnType<typeof createOnnxSession>>,
  options: Readonly<Partial<OnnxTeacherOptions>>,
): Promise<OnnxTeacher> {
  // Later sessions (feature layers) use the provider that worked for the first.
  const featureSessions = new Map<string, Promise<InferenceSession>>();
  const layers = featureLayerNames(graph, options.featureLayer);
  if (options.featureLayer !== undefined && !layers.includes(options.featureLayer))
    throw unknownFeatureLayer(`ONNX teacher ${path}`, options.featureLayer, layers);
  const modelShape = graph.inputDims.slice(1) as number[];
  const rowSize = modelShape.reduce((a, b) => a * b, 1);
  const layout = options.inputLayout ?? 'nchw';
  // [C, H, W] with C > 1: the data's rows are [H, W, C], transposed per row below.
  const transpose =
    layout === 'nchw' && modelShape.length === 3 && modelShape[0]! > 1
      ? { c: modelShape[0]!, hw: modelShape[1]! * modelShape[2]! }
      : undefined;
  const inputShape = transpose ? [modelShape[1]!, modelShape[2]!, modelShape[0]!] : modelShape;
  if (transpose)
    options.log?.(
      `ONNX teacher ${path}: channels-first input [${modelShape.join(', ')}]; data rows [${inputShape.join(', ')}] are transposed to it`,
    );
  // A model exported with a fixed batch size runs in chunks of exactly that size.
  const fixedBatch = graph.inputDims[0] ?? undefined;
  const chunk = fixedBatch ?? BATCH;
  const logitsName = graph.outputNames[0]!;

  const run = async (
    session: InferenceSession,
    output: string,
    x: Float32Array,
    count: number,
  ): Promise<{ values: Float32Array; width: number }> => {
    if (x.length < count * rowSize) {
      throw new Error(
        `ONNX teacher ${path}: input holds ${x.length} values, ${count} rows of [${inputShape.join(', ')}] need ${count * rowSize}`,
      );
    }
    let values: Float32Array | undefined;
    let width = 0;
    for (let start = 0; start < count; start += chunk) {
      const size = Math.min(chunk, count - start);
      let batch: Float32Array = x.slice(start * rowSize, (start + size) * rowSize);
      if (transpose) batch = toChannelsFirst(batch, size, transpose.c, transpose.hw);
      if (fixedBatch !== undefined && size < fixedBatch) {
        const padded = new Float32Array(fixedBatch * rowSize);
        padded.set(batch);
        batch = padded;
      }
      const rows = fixedBatch ?? size;
      const feeds = { [graph.inputName]: new ort.Tensor('float32', batch, [rows, ...modelShape]) };
      const result = await session.run(feeds, [output]);
      const tensor = result[output]!;
      const data = toFloat32(tensor.data, tensor.type, `output '${output}' of ${path}`);
      width = data.length / rows;
      values ??= new Float32Array(count * width);
      values.set(data.subarray(0, size * width), start * width);
      tensor.dispose();
    }
    return { values: values ?? new Float32Array(0), width };
  };

  // The class count: from the file when it is fixed there, else from one blank row.
  let numClasses = graph.outputDims[0]?.at(-1) ?? null;
  if (numClasses === null || graph.outputDims[0]!.length !== 2) {
    numClasses = (await run(main.session, logitsName, new Float32Array(rowSize), 1)).width;
  }
  const classes = numClasses;
  let outputs = options.outputs ?? 'auto';
  const featureSession = (layer: string): Promise<InferenceSession> => {
    if (graph.outputNames.includes(layer)) return Promise.resolve(main.session);
    let session = featureSessions.get(layer);
    if (!session) {
      session = createOnnxSession(ort, withExtraOutput(bytes, layer), {
        provider: main.provider,
        path,
      }).then((s) => s.session);
      featureSessions.set(layer, session);
    }
    return session;
  };
  if (options.featureLayer !== undefined) await featureSession(options.featureLayer);
  const description = `ONNX model ${path}`;
  return {
    description,
    numParams: graph.numParams,
    hash: createHash('sha256').update(bytes).digest('hex'),
    inputShape,
    numClasses: classes,
    backendName: `onnxruntime:${main.provider}`,
    providers: main.tried,
    async logits(x, count) {
      const { values, width } = await run(main.session, logitsName, x, count);
      if (count > 0 && width !== classes) {
        throw new Error(
          `${description} emitted ${width} values a row, expected ${classes} classes`,
        );
      }
      if (outputs === 'auto' && count > 0)
        outputs = looksLikeProbabilities(values, width) ? 'probabilities' : 'logits';
      return toLogits(values, outputs === 'probabilities');
    },
    featureLayers: () => [...layers],
    async features(x, count, layer): Promise<TeacherFeatures> {
      const name = layer ?? layers[0];
      if (name === undefined || !layers.includes(name))
        throw unknownFeatureLayer(description, name ?? '(default)', layers);
      const { values, width } = await run(await featureSession(name), name, x, count);
      return { data: values, width, layer: name };
    },
    dispose() {
      void main.session.release();
      for (const session of featureSessions.values()) void session.then((s) => s.release());
      featureSessions.clear();
    },
  };
}

/** Rows of `[hw, c]` (channels-last) rewritten as rows of `[c, hw]` (channels-first). */
function toChannelsFirst(rows: Float32Array, count: number, c: number, hw: number): Float32Array {
  const out = new Float32Array(rows.length);
  const size = c * hw;
  for (let r = 0; r < count; r++) {
    const base = r * size;
    for (let p = 0; p < hw; p++)
      for (let k = 0; k < c; k++) out[base + k * hw + p] = rows[base + p * c + k]!;
  }
  return out;
}

/**
 * Tensors `features` can read: the chosen default first, then the graph's
 * other outputs, then every intermediate tensor in graph order.
 */
function featureLayerNames(graph: OnnxGraphInfo, chosen: string | undefined): string[] {
  const logits = graph.outputNames[0];
  const names = [
    ...graph.outputNames.slice(1),
    ...(graph.logitsInput && graph.logitsInput !== graph.inputName ? [graph.logitsInput] : []),
    ...graph.tensorNames,
  ].filter((name) => name !== logits);
  const unique = [...new Set(names)];
  if (chosen !== undefined && unique.includes(chosen))
    return [chosen, ...unique.filter((n) => n !== chosen)];
  return unique;
}
