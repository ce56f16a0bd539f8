/**
 * The teacher: whatever model the coordinator distils from. It only ever runs
 * forward, so a layers model, a graph model (tensorflowjs_converter's output
 * for Keras, SavedModel or ONNX-via-TF) or a freshly trained default all serve.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileModelLoader, readModelFormat } from '../node/modelFiles.js';

/** What the teacher's last layer emits. `auto` looks at the first batch. */
export type TeacherOutputs = 'logits' | 'probabilities' | 'auto';

export interface Teacher {
  readonly description: string;
  readonly numParams: number;
  /** Content hash of the teacher's files or weights: soft labels are cached under it. */
  readonly hash: string;
  readonly inputShape: readonly number[];
  /** Logits `[count, numClasses]` for row-major inputs `[count, ...inputShape]`. */
  predictLogits(x: Float32Array, count: number): Float32Array;
  dispose(): void;
}

const BATCH = 256;

function looksLikeProbabilities(rows: Float32Array, numClasses: number): boolean {
  for (let r = 0; r < rows.length / numClasses; r++) {
    let sum = 0;
    for (let c = 0; c < numClasses; c++) {
      const v = rows[r * numClasses + c]!;
      if (v < 0 || v > 1) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

/** Wraps any forward function over a tensor as a batched, leak-free Teacher. */
export function teacherFromForward(options: {
  description: string;
  numParams: number;
  hash: string;
  inputShape: readonly number[];
  outputs: TeacherOutputs;
  forward: (x: tf.Tensor) => tf.Tensor;
  dispose: () => void;
}): Teacher {
  const featureSize = options.inputShape.reduce((a, b) => a * b, 1);
  let outputs = options.outputs;
  return {
    description: options.description,
    numParams: options.numParams,
    hash: options.hash,
    inputShape: options.inputShape,
    predictLogits(x, count) {
      let result: Float32Array | undefined;
      for (let start = 0; start < count; start += BATCH) {
        const size = Math.min(BATCH, count - start);
        const out = tf.tidy(() => {
          const batch = tf.tensor(x.subarray(start * featureSize, (start + size) * featureSize), [
            size,
            ...options.inputShape,
          ]);
          return options.forward(batch).reshape([size, -1]);
        });
        const values = out.dataSync() as Float32Array;
        const numClasses = out.shape[1]!;
        out.dispose();
        if (outputs === 'auto')
          outputs = looksLikeProbabilities(values, numClasses) ? 'probabilities' : 'logits';
        result ??= new Float32Array(count * numClasses);
        for (let i = 0; i < values.length; i++) {
          // log turns probabilities back into logits up to a per-row constant, which softmax ignores.
          result[start * numClasses + i] =
            outputs === 'probabilities' ? Math.log(Math.max(values[i]!, 1e-12)) : values[i]!;
        }
      }
      return result ?? new Float32Array(0);
    },
    dispose: options.dispose,
  };
}

async function hashModelFiles(modelJsonPath: string): Promise<string> {
  const hash = createHash('sha256');
  const text = await readFile(modelJsonPath);
  hash.update(text);
  const json = JSON.parse(text.toString('utf8')) as tf.io.ModelJSON;
  for (const group of json.weightsManifest ?? []) {
    for (const path of group.paths) hash.update(await readFile(join(dirname(modelJsonPath), path)));
  }
  return hash.digest('hex');
}

/** Loads a teacher from a tfjs model.json on disk, layers or graph format. */
export async function loadTeacherFromFile(
  modelJsonPath: string,
  outputs: TeacherOutputs = 'auto',
): Promise<Teacher> {
  const format = await readModelFormat(modelJsonPath);
  const hash = await hashModelFiles(modelJsonPath);
  if (format === 'graph-model') {
    const model = await tf.loadGraphModel(fileModelLoader(modelJsonPath));
    const shape = model.inputs[0]?.shape?.slice(1);
    if (!shape || shape.some((d) => d === undefined || d < 0)) {
      throw new Error(
        `graph teacher ${modelJsonPath} has no fixed input shape (got ${JSON.stringify(model.inputs[0]?.shape)})`,
      );
    }
    const numParams = Object.values(model.weights).reduce(
      (n, ts) => n + ts.reduce((m, t) => m + t.size, 0),
      0,
    );
    return teacherFromForward({
      description: `graph model ${modelJsonPath}`,
      numParams,
      hash,
      inputShape: shape,
      outputs,
      forward: (x) => model.predict(x) as tf.Tensor,
      dispose: () => model.dispose(),
    });
  }
  const model = await tf.loadLayersModel(fileModelLoader(modelJsonPath));
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  return teacherFromForward({
    description: `layers model ${modelJsonPath}`,
    numParams: model.countParams(),
    hash,
    inputShape: shape,
    outputs,
    forward: (x) => model.predict(x) as tf.Tensor,
    dispose: () => model.dispose(),
  });
}
