/**
 * Which runtime computes a tfjs layers teacher's soft labels and features:
 * the model converted to ONNX (layersToOnnx.ts) on ONNX Runtime's native CPU
 * provider, or tfjs itself (wasm by default in Node). `auto`, the default,
 * takes ONNX Runtime when the tfjs backend is wasm or cpu (the bench's
 * teacher.softlabels rows measure it faster than both), the conversion
 * succeeds and the converted model's logits match tfjs's on a probe batch;
 * otherwise tfjs, with the reason logged. `onnx` insists (and fails with the
 * reason); `wasm` keeps tfjs.
 *
 * The synchronous `predictLogits` always stays on tfjs: ONNX Runtime's node
 * binding only answers asynchronously.
 */
import * as tf from '@tensorflow/tfjs';
import type { InferenceSession } from 'onnxruntime-node';
import { layersModelToOnnx } from './layersToOnnx.js';
import type { OnnxConversion } from './layersToOnnx.js';
import type { OrtModule } from './onnxProviders.js';
import { createOnnxSession, importOnnxRuntime } from './onnxProviders.js';
import type { SyncTeacher, TeacherFeatures, TeacherOutputs } from './teacher.js';
import { looksLikeProbabilities, toLogits, unknownFeatureLayer } from './teacher.js';

/** `wasm` names the tfjs path (whatever tfjs backend runs: wasm unless --backend says otherwise). */
export type TeacherRuntime = 'auto' | 'onnx' | 'wasm';

export const TEACHER_RUNTIMES: readonly TeacherRuntime[] = ['auto', 'onnx', 'wasm'];

/** Largest difference from tfjs's outputs on the probe batch that still counts as the same model. */
export const RUNTIME_PROBE_TOLERANCE = 1e-4;

/** Rows in the default probe batch. */
const PROBE_ROWS = 32;

/** Rows per ONNX Runtime call, as the tfjs teacher batches: bounds a CNN's activation memory. */
const BATCH = 256;

/** tfjs backends ONNX Runtime's CPU provider was measured against (and beats); `auto` keeps any other. */
const REPLACED_BACKENDS = ['wasm', 'cpu'];

export function parseTeacherRuntime(value: string): TeacherRuntime {
  if ((TEACHER_RUNTIMES as readonly string[]).includes(value)) return value as TeacherRuntime;
  throw new Error(`teacher runtime must be one of ${TEACHER_RUNTIMES.join(', ')}, got '${value}'`);
}

export interface TeacherRuntimeOptions {
  /** Defaults to 'auto'. */
  runtime: TeacherRuntime;
  /**
   * Rows `[count, ...inputShape]` both runtimes are compared on (real data is
   * best). Defaults to 32 rows of fixed pseudo-random values in [0, 1).
   */
  probe: Float32Array;
  /** ONNX Runtime intra-op threads. Defaults to ONNX Runtime's choice (one per physical core). */
  threads: number;
  log: (message: string) => void;
}

/** A layers teacher, with what runs it and why. */
export type RuntimeTeacher = SyncTeacher & {
  /** `onnxruntime:cpu` when the converted model answers `logits` and `features`, else `tfjs`. */
  readonly runtime: 'onnxruntime:cpu' | 'tfjs';
  /** Why tfjs runs it, when it does. */
  readonly runtimeReason?: string;
};

/** 32 rows of a fixed xorshift sequence in [0, 1): inputs in the range pixel data has. */
function defaultProbe(rowSize: number): Float32Array {
  const out = new Float32Array(PROBE_ROWS * rowSize);
  let state = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (state >>> 0) / 2 ** 32;
  }
  return out;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    // NaN on either side is a mismatch, not a zero difference.
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** Runs a converted model in batches and returns `[count, width]` values of `output`. */
async function runBatched(
  ort: OrtModule,
  session: InferenceSession,
  conversion: OnnxConversion,
  output: string,
  inputShape: readonly number[],
  x: Float32Array,
  count: number,
): Promise<{ values: Float32Array; width: number }> {
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
    const batch = x.subarray(start * rowSize, (start + size) * rowSize);
    const feeds = {
      [conversion.inputName]: new ort.Tensor('float32', batch, [size, ...inputShape]),
    };
    const result = await session.run(feeds, [output]);
    const tensor = result[output]!;
    const data = tensor.data as Float32Array;
    width = data.length / size;
    values ??= new Float32Array(count * width);
    values.set(data, start * width);
    tensor.dispose();
  }
  return { values: values ?? new Float32Array(0), width };
}

/** The model's raw first output on tfjs (no logits conversion): what the converted model must match. */
function tfjsOutputs(model: tf.LayersModel, x: Float32Array, count: number): Float32Array {
  const inputShape = model.inputs[0]!.shape.slice(1) as number[];
  return tf.tidy(() => {
    const out = model.predict(tf.tensor(x, [count, ...inputShape])) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

/**
 * `tfjsTeacher` (teacherFromLayersModel over `model`) with its `logits` and
 * `features` on the runtime `options.runtime` picks (see the module comment).
 * Disposing the result disposes `tfjsTeacher` (so the model) and any ONNX
 * Runtime sessions. `outputs` is what the model emits, as given to the tfjs teacher.
 */
export async function layersTeacherOnRuntime(
  model: tf.LayersModel,
  tfjsTeacher: SyncTeacher,
  outputs: TeacherOutputs,
  options: Readonly<Partial<TeacherRuntimeOptions>> = {},
): Promise<RuntimeTeacher> {
  const runtime = options.runtime ?? 'auto';
  const log = options.log ?? (() => undefined);
  const backend = tf.getBackend();
  const onTfjs = (reason: string): RuntimeTeacher => {
    log(`teacher runtime: tfjs ${backend} (${reason})`);
    return Object.assign(tfjsTeacher, { runtime: 'tfjs' as const, runtimeReason: reason });
  };
  if (runtime === 'wasm') return onTfjs('--teacher-runtime wasm');
  if (runtime === 'auto' && !REPLACED_BACKENDS.includes(backend))
    return onTfjs(
      `auto keeps the ${backend} backend: ONNX Runtime replaces only ${REPLACED_BACKENDS.join(' and ')}; --teacher-runtime onnx forces it`,
    );
  try {
    return await onOnnxRuntime(model, tfjsTeacher, outputs, options, log);
  } catch (error) {
    const reason = (error as Error).message;
    if (runtime === 'onnx') {
      tfjsTeacher.dispose();
      throw new Error(`--teacher-runtime onnx: ${tfjsTeacher.description}: ${reason}`, {
        cause: error,
      });
    }
    return onTfjs(`ONNX Runtime not used: ${reason}`);
  }
}

async function onOnnxRuntime(
  model: tf.LayersModel,
  tfjsTeacher: SyncTeacher,
  modelOutputs: TeacherOutputs,
  options: Readonly<Partial<TeacherRuntimeOptions>>,
  log: (message: string) => void,
): Promise<RuntimeTeacher> {
  const { inputShape, numClasses, description } = tfjsTeacher;
  const rowSize = inputShape.reduce((a, b) => a * b, 1);
  const conversion = layersModelToOnnx(model);
  const ort = await importOnnxRuntime();
  const sessionOptions = {
    provider: 'cpu' as const,
    path: `${description} (converted to ONNX)`,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  };
  const { session } = await createOnnxSession(ort, conversion.bytes, sessionOptions);

  const probe = options.probe ?? defaultProbe(rowSize);
  const probeRows = Math.floor(probe.length / rowSize);
  let difference: number;
  try {
    if (probeRows < 1)
      throw new Error(`the probe batch holds ${probe.length} values, less than one row`);
    const expected = tfjsOutputs(model, probe.subarray(0, probeRows * rowSize), probeRows);
    const got = await runBatched(
      ort,
      session,
      conversion,
      conversion.logitsName,
      inputShape,
      probe,
      probeRows,
    );
    difference = maxAbsDifference(expected, got.values);
    if (!(difference <= RUNTIME_PROBE_TOLERANCE))
      throw new Error(
        `the converted model's outputs differ from tfjs's by up to ${difference} on a ${probeRows}-row probe batch (tolerance ${RUNTIME_PROBE_TOLERANCE})`,
      );
  } catch (error) {
    await session.release();
    throw error;
  }
  log(
    `teacher runtime: onnxruntime cpu (converted from tfjs to ${conversion.nodeCount} ONNX nodes; ` +
      `outputs within ${difference.toExponential(1)} of tfjs ${tf.getBackend()} on a ${probeRows}-row probe batch)`,
  );

  // Features: one more session, every feature layer an output, made at the first request;
  // each layer is compared with tfjs on the probe batch before its values are used.
  const layers = tfjsTeacher.featureLayers();
  let featureSession:
    Promise<{ session: InferenceSession; conversion: OnnxConversion }> | undefined;
  const checkedLayers = new Map<string, Promise<boolean>>();
  const openFeatureSession = (): NonNullable<typeof featureSession> => {
    featureSession ??= (async () => {
      const withFeatures = layersModelToOnnx(model, { featureLayers: layers });
      const created = await createOnnxSession(ort, withFeatures.bytes, sessionOptions);
      return { session: created.session, conversion: withFeatures };
    })();
    return featureSession;
  };
  const featuresOnOnnx = async (layer: string): Promise<boolean> => {
    let checked = checkedLayers.get(layer);
    if (!checked) {
      checked = (async () => {
        let reason: string;
        try {
          const { session: s, conversion: c } = await openFeatureSession();
          const output = c.featureOutputs.get(layer)!;
          const expected = await tfjsTeacher.features!(probe, probeRows, layer);
          const got = await runBatched(ort, s, c, output, inputShape, probe, probeRows);
          const d = maxAbsDifference(expected.data, got.values);
          if (d <= RUNTIME_PROBE_TOLERANCE) return true;
          reason = `the converted model's differ by up to ${d} on the probe batch (tolerance ${RUNTIME_PROBE_TOLERANCE})`;
        } catch (error) {
          reason = (error as Error).message;
        }
        log(`teacher runtime: features of '${layer}' stay on tfjs: ${reason}`);
        return false;
      })();
      checkedLayers.set(layer, checked);
    }
    return checked;
  };

  let outputs = modelOutputs;
  const teacher: RuntimeTeacher = {
    description,
    numParams: tfjsTeacher.numParams,
    hash: tfjsTeacher.hash,
    inputShape,
    numClasses,
    backendName: 'onnxruntime:cpu',
    runtime: 'onnxruntime:cpu',
    predictLogits: (x, count) => tfjsTeacher.predictLogits(x, count),
    async logits(x, count) {
      const { values, width } = await runBatched(
        ort,
        session,
        conversion,
        conversion.logitsName,
        inputShape,
        x,
        count,
      );
      if (count > 0 && width !== numClasses)
        throw new Error(
          `${description} emitted ${width} values a row, expected ${numClasses} classes`,
        );
      if (outputs === 'auto' && count > 0)
        outputs = looksLikeProbabilities(values, width) ? 'probabilities' : 'logits';
      return toLogits(values, outputs === 'probabilities');
    },
    featureLayers: () => [...layers],
    dispose() {
      void session.release();
      void featureSession?.then((f) => f.session.release());
      featureSession = undefined;
      tfjsTeacher.dispose();
    },
  };
  if (layers.length > 0) {
    teacher.features = async (x, count, layer): Promise<TeacherFeatures> => {
      const name = layer ?? layers[0]!;
      if (!layers.includes(name)) throw unknownFeatureLayer(description, name, layers);
      if (!(await featuresOnOnnx(name))) return tfjsTeacher.features!(x, count, name);
      const { session: s, conversion: c } = await openFeatureSession();
      const { values, width } = await runBatched(
        ort,
        s,
        c,
        c.featureOutputs.get(name)!,
        inputShape,
        x,
        count,
      );
      return { data: values, width, layer: name };
    };
  }
  return teacher;
}
