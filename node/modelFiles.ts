/**
 * Reading and writing tfjs models on disk without tfjs-node (which cannot
 * install everywhere). The files are the standard tfjs format (model.json +
 * weights.bin), so a checkpoint loads with `tf.loadLayersModel` in a browser
 * and a teacher converted by tensorflowjs_converter loads here.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const WEIGHTS_FILE = 'weights.bin';

function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data;
}

/**
 * Saves `model` into `dir` atomically: the files are written to a sibling
 * temporary folder which then replaces `dir`, so a crash mid-save never
 * leaves a model.json that points at half-written weights.
 */
export async function saveModelAtomic(
  model: tf.LayersModel,
  dir: string,
  precision: WeightPrecision = 'float32',
): Promise<void> {
  const target = resolve(dir);
  const staging = `${target}.tmp-${process.pid}-${Date.now()}`;
  const retired = `${target}.old-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const float32 = artifacts.weightData
        ? joinWeightData(artifacts.weightData)
        : new ArrayBuffer(0);
      const { weightData, weightSpecs } = quantizeWeights(
        float32,
        artifacts.weightSpecs ?? [],
        precision,
      );
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: weightSpecs }],
      };
      await writeFile(join(staging, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeFile(join(staging, 'model.json'), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightDataBytes: weightData.byteLength,
        },
      };
    }),
  );
  let hadPrevious = true;
  try {
    await rename(target, retired);
  } catch {
    hadPrevious = false;
  }
  await mkdir(dirname(target), { recursive: true });
  await rename(staging, target);
  if (hadPrevious) await rm(retired, { recursive: true, force: true });
}

/**
 * How weights are stored on disk. `float16` and `uint8` use the tfjs weights
 * manifest's `quantization` field, which `tf.loadLayersModel` decodes back to
 * float32 on load: float16 halves the file, uint8 (per tensor: `q = round((v -
 * min) / scale)`, 256 levels between the tensor's min and max) quarters it.
 */
export type WeightPrecision = 'float32' | 'float16' | 'uint8';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of `value`, rounded to nearest even; overflow goes to ±infinity. */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // inf / NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit 1, into place.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa rightly bumps the exponent.
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  if (half >= 0x7c00) return sign | 0x7c00;
  return sign | half;
}

/** The float32 weights re-encoded at `precision`, with manifest entries that say how to decode them. */
export function quantizeWeights(
  data: ArrayBuffer,
  specs: readonly tf.io.WeightsManifestEntry[],
  precision: WeightPrecision,
): { weightData: ArrayBuffer; weightSpecs: tf.io.WeightsManifestEntry[] } {
  if (precision === 'float32') return { weightData: data, weightSpecs: [...specs] };
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype !== 'float32' || spec.quantization) {
      throw new Error(`cannot quantise weight ${spec.name} of dtype ${spec.dtype}`);
    }
    const values = new Float32Array(data, offset, size);
    offset += size * 4;
    if (precision === 'float16') {
      const half = new Uint16Array(size);
      for (let i = 0; i < size; i++) half[i] = float16Bits(values[i]!);
      parts.push(new Uint8Array(half.buffer));
      out.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (size === 0) min = max = 0;
      const scale = max > min ? (max - min) / 255 : 1;
      const q = new Uint8Array(size);
      for (let i = 0; i < size; i++) q[i] = Math.round((values[i]! - min) / scale);
      parts.push(q);
      out.push({ ...spec, quantization: { dtype: 'uint8', scale, min } });
    }
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.byteLength;
  }
  return { weightData: joined.buffer, weightSpecs: out };
}

/** A model file that cannot be read: the message names the file and what is wrong with it. */
export class ModelFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ModelFileError';
  }
}

function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EISDIR') return 'is a folder, not a file';
  if (e?.code === 'EACCES') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

/** Reads a file, or throws ModelFileError naming it (`what` says which file it is, e.g. "weights file"). */
export async function readModelFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ModelFileError(path, `cannot read ${what} ${path}: ${reason(error)}`, {
      cause: error,
    });
  }
}

/**
 * Reads and checks a tfjs model.json: valid JSON, a topology, a weights
 * manifest. Which format it holds: graph models have a `node` list in their
 * topology (or say so in `format`).
 */
export async function readModelJson(
  modelJsonPath: string,
): Promise<{ json: tf.io.ModelJSON; format: 'layers-model' | 'graph-model' }> {
  const text = (await readModelFile(modelJsonPath, 'model file')).toString('utf8');
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text) as tf.io.ModelJSON;
  } catch (error) {
    throw new ModelFileError(
      modelJsonPath,
      `${modelJsonPath} is not valid JSON (${(error as Error).message}; ${text.length} characters read): a truncated or corrupt model.json?`,
      { cause: error },
    );
  }
  if (
    typeof json !== 'object' ||
    json === null ||
    !json.modelTopology ||
    !Array.isArray(json.weightsManifest)
  ) {
    throw new ModelFileError(
      modelJsonPath,
      `${modelJsonPath} is not a tfjs model.json (needs modelTopology and weightsManifest)`,
    );
  }
  const topology = json.modelTopology as { node?: unknown };
  const format =
    json.format === 'graph-model' || 'node' in topology ? 'graph-model' : 'layers-model';
  return { json, format };
}

/** An IOHandler that reads a model.json and its weight files from disk (layers or graph format). */
export function fileModelLoader(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const { json } = await readModelJson(modelJsonPath);
      const base = dirname(modelJsonPath);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const path of group.paths) {
          const bytes = await readModelFile(join(base, path), `weights file of ${modelJsonPath}:`);
          buffers.push(new Uint8Array(bytes).buffer);
        }
      }
      const expected = specs.reduce((n, spec) => n + weightBytes(spec), 0);
      const actual = buffers.reduce((n, b) => n + b.byteLength, 0);
      if (actual !== expected) {
        throw new ModelFileError(
          modelJsonPath,
          `weights of ${modelJsonPath} hold ${actual} bytes, its manifest describes ${expected}: truncated or mismatched weight files (${json.weightsManifest.flatMap((g) => g.paths).join(', ')})`,
        );
      }
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        trainingConfig: json.trainingConfig,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
        modelInitializer: json.modelInitializer,
        weightSpecs: specs,
        weightData: tf.io.CompositeArrayBuffer.join(buffers),
      };
    },
  };
}

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  float16: 2,
  int16: 2,
  int8: 1,
  complex64: 8,
};

/** Bytes one manifest entry takes in the weight files (quantised entries store their quantised dtype). */
function weightBytes(spec: tf.io.WeightsManifestEntry): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.dtype === 'string') return 0; // length-prefixed; not used by fedistill's models
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  return size * (DTYPE_BYTES[dtype] ?? 4);
}

/** Loads a layers-format model.json from disk. */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileModelLoader(modelJsonPath));
}

/** Reads only the `format` field, to choose between the layers and graph loaders. */
export async function readModelFormat(
  modelJsonPath: string,
): Promise<'layers-model' | 'graph-model'> {
  return (await readModelJson(modelJsonPath)).format;
}

/** Writes a file atomically: to a temporary sibling, then renamed over the target. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const staging = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(staging, data);
  await rename(staging, path);
}
