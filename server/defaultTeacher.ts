/**
 * The teacher a coordinator uses when none is given: trained on the
 * coordinator's own labelled split, then cached in the data directory under a
 * key of its spec, training settings and data, so the next start reuses it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { buildModel, cnnSpec, getFlatWeights, mlpSpec } from '../shared/models/index.js';
import { trainLocal } from '../shared/training/index.js';
import { loadLayersModelFromFile, saveModelAtomic, writeFileAtomic } from '../node/modelFiles.js';
import type { RuntimeTeacher, TeacherRuntime } from './teachers/index.js';
import { layersTeacherOnRuntime, teacherFromLayersModel } from './teachers/index.js';

/** The default teacher's architectures: Hinton et al.'s wide MLP, or a CNN for images. */
export type DefaultTeacherKind = 'mlp' | 'cnn';

export interface DefaultTeacherSpecOptions {
  kind: DefaultTeacherKind;
  /** One sample's shape: `[features]`, or `[height, width, channels]` (a square flat row is read as one-channel image). */
  inputShape: readonly number[];
  numClasses: number;
  /**
   * How big: for `mlp` the width of its two hidden layers (defaults to 1200);
   * for `cnn` the filters of its first conv block, doubled in the second, with
   * a dense layer of 4× as many units (defaults to 32: conv 32, conv 64, dense 128).
   */
  size?: number;
}

/** The image shape of a sample: as given when it has three axes, else a square one-channel image. */
export function imageShapeOf(inputShape: readonly number[]): [number, number, number] {
  if (inputShape.length === 3) return [inputShape[0]!, inputShape[1]!, inputShape[2]!];
  const features = inputShape.reduce((a, b) => a * b, 1);
  const side = Math.round(Math.sqrt(features));
  if (inputShape.length === 1 && side * side === features) return [side, side, 1];
  throw new Error(
    `a CNN teacher needs image data ([height, width, channels] or a square number of pixels), got inputs of shape [${inputShape.join(', ')}]`,
  );
}

/** The spec of the default teacher of `kind` for this data. */
export function defaultTeacherSpec(options: DefaultTeacherSpecOptions): ModelSpec {
  const features = options.inputShape.reduce((a, b) => a * b, 1);
  if (options.size !== undefined && (!Number.isInteger(options.size) || options.size < 1)) {
    throw new Error(`teacher size must be a positive integer, got ${options.size}`);
  }
  if (options.kind === 'mlp') {
    const width = options.size ?? 1200;
    return mlpSpec(features, [width, width], options.numClasses);
  }
  const base = options.size ?? 32;
  // 'same' padding keeps 28×28 at 14×14 then 7×7 after the pools, so small images still fit two blocks.
  return cnnSpec({
    inputShape: imageShapeOf(options.inputShape),
    filters: [base, base * 2],
    padding: 'same',
    hidden: [base * 4],
    numClasses: options.numClasses,
    name: `teacher-cnn-${base}-${base * 2}-${base * 4}`,
  });
}

/** Calls `log` with a progress line at each epoch's end and at most every `everySeconds` in between. */
function progressLines(
  log: (message: string) => void,
  epochs: number,
  everySeconds: number,
): (p: { epoch: number; step: number; steps: number; loss: number }) => void {
  const started = Date.now();
  let lastLine = started;
  let epochLoss = 0;
  let epochSteps = 0;
  let currentEpoch = 0;
  return (p) => {
    if (p.epoch !== currentEpoch) {
      currentEpoch = p.epoch;
      epochLoss = 0;
      epochSteps = 0;
    }
    epochLoss += p.loss;
    epochSteps += 1;
    const stepsPerEpoch = p.steps / epochs;
    const epochDone = p.step >= (p.epoch + 1) * stepsPerEpoch;
    const now = Date.now();
    if (!epochDone && now - lastLine < everySeconds * 1000) return;
    lastLine = now;
    const elapsed = ((now - started) / 1000).toFixed(0);
    log(
      epochDone
        ? `teacher training: epoch ${p.epoch + 1}/${epochs} done, mean loss ${(epochLoss / epochSteps).toFixed(4)}, ${elapsed} s elapsed`
        : `teacher training: epoch ${p.epoch + 1}/${epochs}, step ${p.step}/${p.steps}, loss ${p.loss.toFixed(4)}, ${elapsed} s elapsed`,
    );
  };
}

export interface DefaultTeacherOptions {
  spec: ModelSpec;
  data: LabeledData;
  dataDir: string;
  /** Defaults to 8. */
  epochs?: number;
  /** Defaults to 64. */
  batchSize?: number;
  /** Defaults to 0.001. */
  learningRate?: number;
  seed?: number;
  log?: (message: string) => void;
  /**
   * Seconds between progress lines sent to `log` while training (one also
   * ends every epoch), for logs that are not a terminal; 0 sends none (a
   * progress bar shows it instead). Defaults to 5.
   */
  progressEverySeconds?: number;
  onProgress?: (done: number, total: number, loss: number) => void;
  /**
   * What computes its soft labels and features (server/teachers/teacherRuntime.ts); the
   * first rows of `data` are the probe batch both runtimes are compared on. Defaults to 'auto'.
   */
  runtime?: TeacherRuntime;
}

interface TeacherMeta {
  key: string;
  hash: string;
  trainedOn: number;
  epochs: number;
  /** Seconds the training took (absent in caches written before it was recorded). */
  trainSeconds?: number;
}

function cacheKey(
  options: DefaultTeacherOptions,
  epochs: number,
  batchSize: number,
  learningRate: number,
): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      spec: options.spec,
      epochs,
      batchSize,
      learningRate,
      seed: options.seed ?? 1,
    }),
  );
  hash.update(
    new Uint8Array(options.data.x.buffer, options.data.x.byteOffset, options.data.x.byteLength),
  );
  hash.update(
    new Uint8Array(options.data.y.buffer, options.data.y.byteOffset, options.data.y.byteLength),
  );
  return hash.digest('hex').slice(0, 16);
}

/**
 * A teacher, whether it came from the cache (no training happened now), and how many seconds
 * its training took when it was trained (null for a cache that did not record it).
 */
export type DefaultTeacher = RuntimeTeacher & {
  readonly fromCache: boolean;
  readonly trainSeconds: number | null;
};

export async function loadOrTrainDefaultTeacher(
  options: DefaultTeacherOptions,
): Promise<DefaultTeacher> {
  const epochs = options.epochs ?? 8;
  const batchSize = options.batchSize ?? 64;
  const learningRate = options.learningRate ?? 0.001;
  const key = cacheKey(options, epochs, batchSize, learningRate);
  const dir = join(options.dataDir, 'teacher', key);
  const metaPath = join(dir, 'meta.json');
  const log = options.log ?? (() => undefined);

  let model: LayersModel;
  let meta: TeacherMeta;
  let fromCache = false;
  if (existsSync(metaPath) && existsSync(join(dir, 'model', 'model.json'))) {
    meta = JSON.parse(await readFile(metaPath, 'utf8')) as TeacherMeta;
    model = await loadLayersModelFromFile(join(dir, 'model', 'model.json'));
    fromCache = true;
    log(`teacher: reusing cached default teacher ${key} (${dir})`);
  } else {
    log(
      `teacher: training default teacher on ${options.data.count} labelled samples (${epochs} epochs); cached afterwards`,
    );
    const started = Date.now();
    model = buildModel(options.spec, options.seed ?? 1);
    const everySeconds = options.progressEverySeconds ?? 5;
    const lines = everySeconds > 0 ? progressLines(log, epochs, everySeconds) : undefined;
    await trainLocal({
      model,
      spec: options.spec,
      data: options.data,
      config: { epochs, batchSize, learningRate, temperature: 1, alpha: 1, optimizer: 'adam' },
      seed: options.seed ?? 1,
      // p.step counts over all epochs already.
      onProgress: (p) => {
        lines?.(p);
        options.onProgress?.(p.step, p.steps, p.loss);
      },
    });
    const weights = getFlatWeights(model);
    const hash = createHash('sha256')
      .update(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength))
      .digest('hex');
    meta = {
      key,
      hash,
      trainedOn: options.data.count,
      epochs,
      trainSeconds: (Date.now() - started) / 1000,
    };
    await saveModelAtomic(model, join(dir, 'model'));
    await writeFileAtomic(metaPath, JSON.stringify(meta, null, 2));
  }
  const tfjsTeacher = teacherFromLayersModel(model, {
    description: `default teacher ${options.spec.name ?? 'mlp'} (${key})`,
    hash: meta.hash,
    outputs: 'logits',
  });
  const rowSize = options.spec.inputShape.reduce((a, b) => a * b, 1);
  const probeRows = Math.min(32, options.data.count);
  const teacher = await layersTeacherOnRuntime(model, tfjsTeacher, 'logits', {
    runtime: options.runtime ?? 'auto',
    log,
    ...(probeRows > 0 ? { probe: options.data.x.subarray(0, probeRows * rowSize) } : {}),
  });
  return Object.assign(teacher, { fromCache, trainSeconds: meta.trainSeconds ?? null });
}
