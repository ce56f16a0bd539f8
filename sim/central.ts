/**
 * The `central` strategy, which only a simulation can run: the student
 * distilled from the teacher with every client's data pooled in one place —
 * Hinton et al.'s setting, and the upper bound a federated strategy aims at.
 * Same loss, same proxy soft labels, same epochs: `rounds` calls of
 * `trainLocal` with `epochs` each on the pooled data, evaluated after each so
 * its curve lines up with the federated rounds.
 */
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import { buildModel, countParameters } from '../shared/models/index.js';
import { concatData } from '../shared/data/index.js';
import { evaluate, trainLocal } from '../shared/training/index.js';
import { decodeProxyInputs, encodeProxyInputs } from '../shared/artifacts/index.js';
import { argmaxRows, matchRate } from '../shared/predictions/index.js';
import { deriveSeed } from '../shared/data/index.js';
import { softmaxRows } from '../shared/softLabels/index.js';
import type { Teacher } from '../server/teachers/index.js';
import type { SimConfig } from './config.js';
import type { SimRoundMetrics } from './results.js';

export interface CentralOptions {
  config: SimConfig;
  seed: number;
  studentSpec: ModelSpec;
  teacher: Teacher;
  shards: readonly LabeledData[];
  proxy: LabeledData;
  test: LabeledData;
  teacherAccuracy: number;
  onRound?: (metrics: SimRoundMetrics) => void;
  signal?: AbortSignal;
}

export async function runCentral(
  options: CentralOptions,
): Promise<{ rounds: SimRoundMetrics[]; studentParams: number }> {
  const { config, seed, studentSpec, teacher, test } = options;
  const { training } = config;
  const numClasses = studentSpec.numClasses;
  const pooled = concatData(options.shards);
  // The proxy inputs exactly as federated clients decode them (one byte per pixel).
  const featureShape = [options.proxy.x.length / Math.max(1, options.proxy.count)];
  const proxyX = decodeProxyInputs(
    encodeProxyInputs(options.proxy.x, options.proxy.count, featureShape),
  ).x;
  const softLabels = softmaxRows(
    await teacher.logits(proxyX, options.proxy.count),
    numClasses,
    training.temperature,
  );
  const teacherTest = argmaxRows(await teacher.logits(test.x, test.count), numClasses);
  const model = buildModel(studentSpec, seed);
  const rounds: SimRoundMetrics[] = [];
  try {
    for (let round = 1; round <= config.rounds; round++) {
      const started = Date.now();
      const result = await trainLocal({
        model,
        spec: studentSpec,
        data: pooled,
        proxy: { x: proxyX, softLabels, count: options.proxy.count },
        config: {
          epochs: training.epochs,
          batchSize: training.batchSize,
          learningRate: training.learningRate,
          temperature: training.temperature,
          alpha: training.alpha,
          optimizer: training.optimizer,
        },
        seed: deriveSeed(seed, 'centralRounds', round),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const evaluation = evaluate(model, test);
      const metrics: SimRoundMetrics = {
        strategy: 'central',
        seed,
        round,
        status: 'aggregated',
        studentAccuracy: evaluation.accuracy,
        studentLoss: evaluation.loss,
        agreement: matchRate(evaluation.predictions, teacherTest),
        teacherAccuracy: options.teacherAccuracy,
        sampled: 1,
        participants: 1,
        bytesDownPerClient: 0,
        bytesUpPerClient: 0,
        meanClientLoss: result.loss,
        durationMs: Date.now() - started,
      };
      rounds.push(metrics);
      options.onRound?.(metrics);
    }
    return { rounds, studentParams: countParameters(model) };
  } finally {
    model.dispose();
  }
}
