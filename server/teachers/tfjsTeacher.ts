/**
 * Teachers run by tfjs in this process: a layers model (the default teacher,
 * or a Keras export), or a graph model (tensorflowjs_converter's output for
 * SavedModel or ONNX-via-TF). They only ever run forward, in batches, inside
 * `tf.tidy`, so nothing leaks between calls.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileModelLoader, readModelJson } from '../../node/modelFiles.js';
import type { SyncTeacher, TeacherFeatures, TeacherOutputs } from './teacher.js';
import { looksLikeProbabilities, toLogits, unknownFeatureLayer } from './teacher.js';
import type { TeacherRuntimeOptions } from './teacherRuntime.js';
import { layersTeacherOnRuntime } from './teacherRuntime.js';

const BATCH = 256;

export interface ForwardTeacherOptions {
  description: string;
  numParams: number;
  hash: string;
  inputShape: readonly number[];
  numClasses: number;
  outputs: TeacherOutputs;
  forward: (x: tf.Tensor) => tf.Tensor;
  /** Intermediate layers by name, first the default: each maps an input batch to its activations. */
  featureForwards?: ReadonlyMap<string, (x: tf.Tensor) => tf.Tensor>;
  dispose: () => void;
}

/** Runs `forward` over `count` rows in batches and returns `[count, width]` values. */
function runBatched(
  x: Float32Array,
  count: number,
  inputShape: readonly number[],
  forward: (x: tf.Tensor) => tf.Tensor,
): { values: Float32Array; width: number } {
  const rowSize = inputShape.reduce((a, b) => a * b, 1);
  if (x.length < count * rowSize) {
    throw new Error(
      `teacher input holds ${x.length} values, ${count} rows of [${inputShape.join(', ')}] need ${count * rowSize}`,
    );
  }
  let values: Float32Array | undefined;
  let width = 0;
  for (let start = 0; start < count; start += BATCH) {
    const size = Math.min(BATCH, count - start);
    const out = tf.tidy(() => {
      const batch = tf.tensor(x.subarray(start * rowSize, (start + size) * rowSize), [
        size,
        ...inputShape,
      ]);
      return forward(batch).reshape([size, -1]);
    });
    const batchValues = out.dataSync() as Float32Array;
    width = out.shape[1]!;
    out.dispose();
    values ??= new Float32Array(count * width);
    values.set(batchValues, start * width);
  }
  return { values: values ?? new Float32Array(0), width };
}

/** Wraps any forward function over a tensor as a batched, leak-free teacher. */
export function teacherFromForward(options: ForwardTeacherOptions): SyncTeacher {
  let outputs = options.outputs;
  const features = options.featureForwards ?? new Map<string, (x: tf.Tensor) => tf.Tensor>();
  const predictLogits = (x: Float32Array, count: number): Float32Array => {
    const { values, width } = runBatched(x, count, options.inputShape, options.forward);
    if (count > 0 && width !== options.numClasses) {
      throw new Error(
        `${options.description} emitted ${width} values a row, expected ${options.numClasses} classes`,
      );
    }
    if (outputs === 'auto' && count > 0)
      outputs = looksLikeProbabilities(values, width) ? 'probabilities' : 'logits';
    return toLogits(values, outputs === 'probabilities');
  };
  const teacher: SyncTeacher = {
    description: options.description,
    numParams: options.numParams,
    hash: options.hash,
    inputShape: options.inputShape,
    numClasses: options.numClasses,
    get backendName() {
      return `tfjs:${tf.getBackend()}`;
    },
    predictLogits,
    logits: (x, count) => Promise.resolve(predictLogits(x, count)),
    featureLayers: () => [...features.keys()],
    dispose: options.dispose,
  };
  if (features.size > 0) {
    teacher.features = (x, count, layer) => {
      const name = layer ?? [...features.keys()][0]!;
      const forward = features.get(name);
      if (!forward)
        return Promise.reject(unknownFeatureLayer(options.description, name, [...features.keys()]));
      const { values, width } = runBatched(x, count, options.inputShape, forward);
      return Promise.resolve<TeacherFeatures>({ data: values, width, layer: name });
    };
  }
  return teacher;
}

/**
 * Feature layers of a layers model: every layer's output except the last
 * (the logits), the penultimate first (the input of the logits layer, what
 * feature distillation usually matches).
 */
export function layerFeatureForwards(
  model: tf.LayersModel,
): Map<string, (x: tf.Tensor) => tf.Tensor> {
  const forwards = new Map<string, (x: tf.Tensor) => tf.Tensor>();
  const hidden = model.layers.slice(0, -1).filter((l) => l.getClassName() !== 'InputLayer');
  for (const layer of hidden.reverse()) {
    let sub: tf.LayersModel | undefined;
    forwards.set(layer.name, (x) => {
      sub ??= tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
      return sub.predict(x) as tf.Tensor;
    });
  }
  return forwards;
}

/** A teacher over a built or loaded layers model (disposing the teacher disposes the model). */
export function teacherFromLayersModel(
  model: tf.LayersModel,
  options: { description: string; hash: string; outputs: TeacherOutputs },
): SyncTeacher {
  const inputShape = model.inputs[0]!.shape.slice(1);
  if (inputShape.some((d) => d === null || d < 1)) {
    throw new Error(
      `${options.description} has no fixed input shape (got ${JSON.stringify(model.inputs[0]!.shape)})`,
    );
  }
  const numClasses = model.outputs[0]!.shape.at(-1);
  if (typeof numClasses !== 'number' || numClasses < 2) {
    throw new Error(
      `${options.description} has no fixed class count (output shape ${JSON.stringify(model.outputs[0]!.shape)})`,
    );
  }
  return teacherFromForward({
    ...options,
    numParams: model.countParams(),
    inputShape: inputShape as number[],
    numClasses,
    forward: (x) => model.predict(x) as tf.Tensor,
    featureForwards: layerFeatureForwards(model),
    dispose: () => model.dispose(),
  });
}

async function hashModelFiles(modelJsonPath: string, json: tf.io.ModelJSON): Promise<string> {
  const hash = createHash('sha256');
  hash.update(await readFile(modelJsonPath));
  for (const group of json.weightsManifest ?? []) {
    for (const path of group.paths) hash.update(await readFile(join(dirname(modelJsonPath), path)));
  }
  return hash.digest('hex');
}

/**
 * Loads a teacher from a tfjs model.json on disk, layers or graph format. A
 * layers model's soft labels and features run where `runtime.runtime` says
 * (teacherRuntime.ts: ONNX Runtime by default); a graph model stays on tfjs.
 */
export async function loadTfjsTeacher(
  modelJsonPath: string,
  outputs: TeacherOutputs = 'auto',
  runtime: Readonly<Partial<TeacherRuntimeOptions>> = {},
): Promise<SyncTeacher> {
  const { json, format } = await readModelJson(modelJsonPath);
  const hash = await hashModelFiles(modelJsonPath, json);
  if (format === 'graph-model') {
    if (runtime.runtime === 'onnx')
      throw new Error(
        `--teacher-runtime onnx: ${modelJsonPath} is a tfjs graph model; only layers models are converted to ONNX (an ONNX export of the original model loads with --teacher file.onnx)`,
      );
    const model = await tf.loadGraphModel(fileModelLoader(modelJsonPath));
    const description = `graph model ${modelJsonPath}`;
    const shape = model.inputs[0]?.shape?.slice(1);
    if (!shape || shape.some((d) => d === undefined || d < 1)) {
      model.dispose();
      throw new Error(
        `graph teacher ${modelJsonPath} has no fixed input shape (got ${JSON.stringify(model.inputs[0]?.shape)})`,
      );
    }
    const numParams = Object.values(model.weights).reduce(
      (n, ts) => n + ts.reduce((m, t) => m + t.size, 0),
      0,
    );
    const forward = (x: tf.Tensor) => model.predict(x) as tf.Tensor;
    // A graph model's output shape is often unknown until it runs: one zero row tells.
    let numClasses = model.outputs[0]?.shape?.at(-1);
    if (typeof numClasses !== 'number' || numClasses < 1) {
      const probe = runBatched(
        new Float32Array(shape.reduce((a, b) => a * b, 1)),
        1,
        shape,
        forward,
      );
      numClasses = probe.width;
    }
    return teacherFromForward({
      description,
      numParams,
      hash,
      inputShape: shape,
      numClasses,
      outputs,
      forward,
      dispose: () => model.dispose(),
    });
  }
  const model = await tf.loadLayersModel(fileModelLoader(modelJsonPath));
  let teacher: SyncTeacher;
  try {
    teacher = teacherFromLayersModel(model, {
      description: `layers model ${modelJsonPath}`,
      hash,
      outputs,
    });
  } catch (error) {
    model.dispose();
    throw error;
  }
  // On failure it has disposed the teacher, and with it the model.
  return layersTeacherOnRuntime(model, teacher, outputs, runtime);
}
