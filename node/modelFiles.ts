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
export async function saveModelAtomic(model: tf.LayersModel, dir: string): Promise<void> {
  const target = resolve(dir);
  const staging = `${target}.tmp-${process.pid}-${Date.now()}`;
  const retired = `${target}.old-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData
        ? joinWeightData(artifacts.weightData)
        : new ArrayBuffer(0);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
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

/** An IOHandler that reads a model.json and its weight files from disk (layers or graph format). */
export function fileModelLoader(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const text = await readFile(modelJsonPath, 'utf8');
      const json = JSON.parse(text) as tf.io.ModelJSON;
      if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
        throw new Error(
          `${modelJsonPath} is not a tfjs model.json (needs modelTopology and weightsManifest)`,
        );
      }
      const base = dirname(modelJsonPath);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const path of group.paths) {
          const bytes = await readFile(join(base, path));
          buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        }
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

/** Loads a layers-format model.json from disk. */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileModelLoader(modelJsonPath));
}

/** Reads only the `format` field, to choose between the layers and graph loaders. */
export async function readModelFormat(
  modelJsonPath: string,
): Promise<'layers-model' | 'graph-model'> {
  const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as {
    format?: string;
    modelTopology?: { node?: unknown };
  };
  if (json.format === 'graph-model' || (json.modelTopology && 'node' in json.modelTopology))
    return 'graph-model';
  return 'layers-model';
}

/** Writes a file atomically: to a temporary sibling, then renamed over the target. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const staging = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(staging, data);
  await rename(staging, path);
}
