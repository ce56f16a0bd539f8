/**
 * The centralised experiment of Hinton, Vinyals & Dean (2015, §3) on the
 * digits available here: a big teacher, the small student trained alone on
 * hard labels, and the same student distilled from the teacher at a high
 * temperature — all on one training split, tested on one held-out split.
 */
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { createRng, splitDataset } from '../shared/data/index.js';
import type { LabeledData } from '../shared/data/types.js';
import { buildModel, countParameters } from '../shared/models/index.js';
import type { ModelSpec } from '../shared/models/index.js';
import { evaluate, trainLocal } from '../shared/training/index.js';
import { loadMnist, MNIST_FEATURES } from '../node/data/index.js';
import { loadOrTrainDefaultTeacher } from '../server/defaultTeacher.js';
import { softmaxRows } from '../shared/softLabels/index.js';
import { argmaxRows } from '../shared/predictions/index.js';
import { modelSpecInputSchema, resolveSpec } from './config.js';

const trainingSchema = z.strictObject({
  /** Defaults to 10. */
  epochs: z.number().int().min(1).default(10),
  /** Defaults to 64. */
  batchSize: z.number().int().min(1).default(64),
  /** Adam. Defaults to 0.001. */
  learningRate: z.number().positive().default(0.001),
});

export const hintonConfigSchema = z.strictObject({
  /** Digits used (≤ 10,000); `test` of them are held out, the rest train all three models. Defaults to 10,000. */
  total: z.number().int().min(100).max(10_000).default(10_000),
  /** Defaults to 2,000. */
  test: z.number().int().min(10).default(2000),
  /** Seed of the split and of the models' initial weights. Defaults to 42. */
  seed: z.number().int().min(0).default(42),
  /** Teacher and teacher-cache location. */
  cacheDir: z.string().default('.fedistill/sim-cache'),
  teacher: z.strictObject({
    /** Defaults to mlp:1200,1200. */
    spec: modelSpecInputSchema.default('mlp:1200,1200'),
    training: trainingSchema.default({ epochs: 10, batchSize: 64, learningRate: 0.001 }),
  }),
  student: z.strictObject({
    /** Defaults to mlp:800,800. */
    spec: modelSpecInputSchema.default('mlp:800,800'),
    training: trainingSchema.default({ epochs: 10, batchSize: 64, learningRate: 0.001 }),
  }),
  distillation: z
    .strictObject({
      /** Defaults to 20 (the paper's MNIST temperature). */
      temperature: z.number().positive().default(20),
      /** Weight of the hard-label term; the soft term (×T²) gets 1 − α. Defaults to 0.1. */
      alpha: z.number().min(0).max(1).default(0.1),
    })
    .default({ temperature: 20, alpha: 0.1 }),
});
export type HintonConfig = z.output<typeof hintonConfigSchema>;

export function readHintonConfig(path: string): HintonConfig {
  const result = hintonConfigSchema.safeParse(parseYaml(readFileSync(path, 'utf8')) ?? {});
  if (!result.success)
    throw new Error(`${path}: invalid config:\n${z.prettifyError(result.error)}`);
  return result.data;
}

export interface HintonRow {
  model: 'teacher' | 'student alone' | 'student distilled';
  spec: string;
  parameters: number;
  testErrors: number;
  testCount: number;
  errorRate: number;
  /** Training time; null when the model came from the cache (trained in an earlier run). */
  seconds: number | null;
}

export interface HintonResult {
  config: HintonConfig;
  trainCount: number;
  testCount: number;
  rows: HintonRow[];
}

function specName(spec: ModelSpec): string {
  return spec.name ?? 'custom';
}

function errorsOf(model: Parameters<typeof evaluate>[0], test: LabeledData): number {
  const { accuracy } = evaluate(model, test);
  return Math.round((1 - accuracy) * test.count);
}

export async function runHinton(
  config: HintonConfig,
  log: (message: string) => void = () => undefined,
): Promise<HintonResult> {
  const all = loadMnist({ count: config.total, seed: config.seed });
  const { train, test } = splitDataset(
    all,
    { test: config.test, train: 'rest' },
    createRng(config.seed),
  );
  const inputShape = [MNIST_FEATURES];
  const teacherSpec = resolveSpec(config.teacher.spec, inputShape, 10);
  const studentSpec = resolveSpec(config.student.spec, inputShape, 10);
  const rows: HintonRow[] = [];
  const row = (
    model: HintonRow['model'],
    spec: ModelSpec,
    parameters: number,
    errors: number,
    seconds: number | null,
  ) => {
    rows.push({
      model,
      spec: specName(spec),
      parameters,
      testErrors: errors,
      testCount: test.count,
      errorRate: errors / test.count,
      seconds,
    });
    log(
      `${model}: ${errors} test errors of ${test.count} (${seconds === null ? 'cached' : `${seconds.toFixed(0)} s`})`,
    );
  };

  let started = Date.now();
  log(`teacher ${specName(teacherSpec)} on ${train.count} digits (cached after the first run)`);
  const teacher = await loadOrTrainDefaultTeacher({
    spec: teacherSpec,
    data: train,
    dataDir: config.cacheDir,
    ...config.teacher.training,
    seed: config.seed,
  });
  try {
    const teacherPredictions = argmaxRows(await teacher.logits(test.x, test.count), 10);
    const teacherErrors = teacherPredictions.filter((label, i) => label !== test.y[i]).length;
    row(
      'teacher',
      teacherSpec,
      teacher.numParams,
      teacherErrors,
      teacher.fromCache ? null : (Date.now() - started) / 1000,
    );

    const { training } = config.student;
    started = Date.now();
    const alone = buildModel(studentSpec, config.seed + 1);
    try {
      await trainLocal({
        model: alone,
        spec: studentSpec,
        data: train,
        config: { ...training, temperature: 1, alpha: 1, optimizer: 'adam' },
        seed: config.seed + 1,
      });
      row(
        'student alone',
        studentSpec,
        countParameters(alone),
        errorsOf(alone, test),
        (Date.now() - started) / 1000,
      );
    } finally {
      alone.dispose();
    }

    started = Date.now();
    const { temperature, alpha } = config.distillation;
    const softLabels = softmaxRows(await teacher.logits(train.x, train.count), 10, temperature);
    const distilled = buildModel(studentSpec, config.seed + 1);
    try {
      await trainLocal({
        model: distilled,
        spec: studentSpec,
        data: train,
        // The transfer set is the training set itself, with the teacher's soft labels at T.
        proxy: { x: train.x, softLabels, count: train.count },
        config: { ...training, temperature, alpha, optimizer: 'adam' },
        seed: config.seed + 1,
      });
      row(
        'student distilled',
        studentSpec,
        countParameters(distilled),
        errorsOf(distilled, test),
        (Date.now() - started) / 1000,
      );
    } finally {
      distilled.dispose();
    }
  } finally {
    teacher.dispose();
  }
  return { config, trainCount: train.count, testCount: test.count, rows };
}
