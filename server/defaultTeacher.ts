/**
 * The teacher a coordinator uses when none is given: trained on the
 * coordinator's own labelled split, then cached in the data directory under a
 * key of its spec, training settings and data, so the next start reuses it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { buildModel, countParameters, getFlatWeights } from '../shared/models/index.js';
import { trainLocal } from '../shared/training/index.js';
import { loadLayersModelFromFile, saveModelAtomic, writeFileAtomic } from '../node/modelFiles.js';
import type { Teacher } from './teacher.js';
import { teacherFromForward } from './teacher.js';

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
  onProgress?: (done: number, total: number, loss: number) => void;
}

interface TeacherMeta {
  key: string;
  hash: string;
  trainedOn: number;
  epochs: number;
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

/** A teacher, and whether it came from the cache (no training happened now). */
export type DefaultTeacher = Teacher & { readonly fromCache: boolean };

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
    model = buildModel(options.spec, options.seed ?? 1);
    await trainLocal({
      model,
      spec: options.spec,
      data: options.data,
      config: { epochs, batchSize, learningRate, temperature: 1, alpha: 1, optimizer: 'adam' },
      seed: options.seed ?? 1,
      // p.step already counts over all epochs.
      onProgress: (p) => options.onProgress?.(p.step, p.steps, p.loss),
    });
    const weights = getFlatWeights(model);
    const hash = createHash('sha256')
      .update(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength))
      .digest('hex');
    meta = { key, hash, trainedOn: options.data.count, epochs };
    await saveModelAtomic(model, join(dir, 'model'));
    await writeFileAtomic(metaPath, JSON.stringify(meta, null, 2));
  }
  const trained = model;
  const teacher = teacherFromForward({
    description: `default teacher ${options.spec.name ?? 'mlp'} (${key})`,
    numParams: countParameters(trained),
    hash: meta.hash,
    inputShape: options.spec.inputShape,
    outputs: 'logits',
    forward: (x) => trained.predict(x) as Tensor,
    dispose: () => trained.dispose(),
  });
  return Object.assign(teacher, { fromCache });
}
