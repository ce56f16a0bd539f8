/**
 * Local training throughput (samples/s) of the MLP 784-800-800-10 and the
 * default CNN at batch 128: fedistill's trainLocal (fast forward with custom
 * gradients) on the project's default backend, against stock tfjs
 * (optimizer.minimize over model.apply, stock gradients) on wasm and on cpu,
 * plus fedistill with one process per core. Same data, same loss (softmax
 * cross-entropy), same optimizer (SGD) everywhere.
 *
 * Run by bench/main.ts; `FEDISTILL_BENCH_WORKER=1` makes it one of the
 * per-core worker processes instead.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '../../node/backend.js';
import type { LabeledData } from '../../shared/data/types.js';
import { buildModel, cnnSpec, mlpSpec } from '../../shared/models/index.js';
import type { ModelSpec } from '../../shared/models/index.js';
import { trainLocal } from '../../shared/training/index.js';
import { PYTORCH_BAR_SAMPLES_PER_S } from '../lib/reference.js';
import type { BenchRow } from '../lib/common.js';
import { fillRandom, fmt, log, now, QUICK, ratio, runSection, size } from '../lib/common.js';

const BATCH = size(128, 32);
const HIDDEN = size([800, 800], [64, 64]);
const MLP = mlpSpec(784, HIDDEN, 10);
const CNN = cnnSpec();
const MLP_NAME = `MLP ${[784, ...HIDDEN, 10].join('-')} b${BATCH}`;
const CNN_NAME = `CNN ${CNN.name ?? 'cnn'} (27.6k params) b${BATCH}`;
/** Timed steps per measurement (after warm-up steps that are not timed). */
const STEPS = {
  fast: size(40, 2),
  stockWasm: size(12, 2),
  stockCpu: size(3, 1),
  cnnFast: size(16, 1),
  cnnCpu: size(3, 1),
};

function randomData(spec: ModelSpec, count: number, seed: number): LabeledData {
  const featureSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const x = fillRandom(new Float32Array(count * featureSize), seed, 0.5).map((v) => v + 0.5);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) y[i] = (i * 7 + seed) % spec.numClasses;
  return { x, y, count };
}

/** fedistill's trainLocal for `steps` full batches; returns samples/s (one warm-up call first). */
async function fedistillSamplesPerSecond(spec: ModelSpec, steps: number): Promise<number> {
  const model = buildModel(spec, 1);
  const config = {
    epochs: 1,
    batchSize: BATCH,
    learningRate: 0.01,
    temperature: 1,
    alpha: 1,
    optimizer: 'sgd' as const,
  };
  try {
    await trainLocal({ model, spec, data: randomData(spec, BATCH * 2, 1), config });
    const data = randomData(spec, BATCH * steps, 2);
    const started = now();
    await trainLocal({ model, spec, data, config, yieldEvery: 1_000_000 });
    return (BATCH * steps * 1000) / (now() - started);
  } finally {
    model.dispose();
  }
}

/** Stock tfjs: optimizer.minimize(softmaxCrossEntropy(model.apply(x))), loss read back each step like model.fit. */
async function stockSamplesPerSecond(spec: ModelSpec, steps: number): Promise<number> {
  const model = buildModel(spec, 1);
  const optimizer = tf.train.sgd(0.01);
  const data = randomData(spec, BATCH * (steps + 1), 3);
  const featureSize = spec.inputShape.reduce((a, b) => a * b, 1);
  const step = (i: number): void => {
    const cost = tf.tidy((): tf.Scalar => {
      const x = tf.tensor(data.x.subarray(i * BATCH * featureSize, (i + 1) * BATCH * featureSize), [
        BATCH,
        ...spec.inputShape,
      ]);
      const y = tf.oneHot(tf.tensor1d(data.y.subarray(i * BATCH, (i + 1) * BATCH), 'int32'), 10);
      return optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
        true,
      ) as tf.Scalar;
    });
    cost.dataSync();
    cost.dispose();
  };
  try {
    step(0);
    const started = now();
    for (let i = 1; i <= steps; i++) step(i);
    return (BATCH * steps * 1000) / (now() - started);
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  await selectNodeBackend({ force: name });
}

/** Runs `count` worker processes at once, each training the MLP with fedistill; total samples/s. */
async function parallelSamplesPerSecond(count: number): Promise<number> {
  const script = fileURLToPath(import.meta.url);
  const runs = Array.from(
    { length: count },
    () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script], {
          env: { ...process.env, FEDISTILL_BENCH_WORKER: '1', FEDISTILL_BENCH_RESULT: '' },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => (out += chunk));
        child.on('exit', (code) => {
          const match = /samplesPerSecond=([\d.]+)/.exec(out);
          if (code === 0 && match) resolve(Number(match[1]));
          else reject(new Error(`training worker exited with ${code}: ${out}`));
        });
      }),
  );
  const rates = await Promise.all(runs);
  return rates.reduce((a, b) => a + b, 0);
}

function pytorchAvailable(): boolean {
  try {
    execFileSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const choice = await selectNodeBackend();
  const defaultBackend = choice.name;
  log(`training: default backend ${defaultBackend}; ${MLP_NAME}`);

  const fast = await fedistillSamplesPerSecond(MLP, STEPS.fast);
  await useBackend('wasm');
  const stockWasm = await stockSamplesPerSecond(MLP, STEPS.stockWasm);
  await useBackend('cpu');
  const stockCpu = await stockSamplesPerSecond(MLP, STEPS.stockCpu);
  const cores = 2;
  const parallel = await parallelSamplesPerSecond(cores);

  rows.push({
    id: 'train.mlp.fedistill',
    item: `${MLP_NAME}: fedistill trainLocal (${defaultBackend}, 1 process)`,
    value: `${fmt(fast)} samples/s`,
    reference: `stock tfjs wasm ${fmt(stockWasm)}/s`,
    ratio: ratio(fast, stockWasm),
    note: 'SGD, softmax CE; fast forward with custom grads (no transposed matMul on wasm)',
  });
  rows.push({
    id: 'train.mlp.stock-wasm',
    item: `${MLP_NAME}: stock tfjs wasm (minimize over model.apply)`,
    value: `${fmt(stockWasm)} samples/s`,
    reference: `fedistill ${fmt(fast)}/s`,
    ratio: ratio(stockWasm, fast),
  });
  rows.push({
    id: 'train.mlp.stock-cpu',
    item: `${MLP_NAME}: stock tfjs cpu (pure JS)`,
    value: `${fmt(stockCpu)} samples/s`,
    reference: `fedistill ${fmt(fast)}/s`,
    ratio: ratio(stockCpu, fast),
  });
  rows.push({
    id: 'train.mlp.fedistill-per-core',
    item: `${MLP_NAME}: fedistill, ${cores} processes at once (one per core)`,
    value: `${fmt(parallel)} samples/s total`,
    reference: `1 process ${fmt(fast)}/s`,
    ratio: ratio(parallel, fast),
    note: 'wasm is single-threaded in Node: parallelism is one process per core',
  });
  const torch = pytorchAvailable();
  rows.push({
    id: 'train.mlp.pytorch-bar',
    item: `MLP 784-800-800-10 b128: PyTorch bar (2 cores, ${fmt(PYTORCH_BAR_SAMPLES_PER_S / 2)}/s per core)`,
    value: `${fmt(PYTORCH_BAR_SAMPLES_PER_S)} samples/s`,
    reference: `fedistill ${fmt(parallel)}/s on ${cores} cores; ${fmt(fast)}/s on 1`,
    ratio: `${ratio(parallel, PYTORCH_BAR_SAMPLES_PER_S)} (2 cores), ${ratio(fast, PYTORCH_BAR_SAMPLES_PER_S / 2)} per core`,
    note: `NOT measured in this run${torch ? '' : ' (torch not installed)'}: reference figure from DESIGN.md${QUICK ? '; quick mode uses a smaller MLP' : ''}`,
  });

  // CNN: stock wasm has no Conv2DBackpropFilter kernel, so its row records the failure.
  const choiceAgain = await selectNodeBackend({ force: defaultBackend });
  const cnnFast = await fedistillSamplesPerSecond(CNN, STEPS.cnnFast);
  await useBackend('wasm');
  let cnnStockWasm: string;
  try {
    cnnStockWasm = `${fmt(await stockSamplesPerSecond(CNN, 1))} samples/s`;
  } catch (error) {
    cnnStockWasm = `fails: ${(error as Error).message.split('\n')[0]?.slice(0, 60) ?? ''}`;
  }
  await useBackend('cpu');
  const cnnCpu = await stockSamplesPerSecond(CNN, STEPS.cnnCpu);
  rows.push({
    id: 'train.cnn.fedistill',
    item: `${CNN_NAME}: fedistill trainLocal (${choiceAgain.name})`,
    value: `${fmt(cnnFast)} samples/s`,
    reference: `stock tfjs cpu ${fmt(cnnCpu)}/s`,
    ratio: ratio(cnnFast, cnnCpu),
    note: `stock tfjs wasm: ${cnnStockWasm}`,
  });
  rows.push({
    id: 'train.cnn.stock-cpu',
    item: `${CNN_NAME}: stock tfjs cpu`,
    value: `${fmt(cnnCpu)} samples/s`,
    reference: `fedistill ${fmt(cnnFast)}/s`,
    ratio: ratio(cnnCpu, cnnFast),
  });
  return rows;
}

if (process.env.FEDISTILL_BENCH_WORKER === '1') {
  await selectNodeBackend();
  const rate = await fedistillSamplesPerSecond(MLP, STEPS.fast);
  console.log(`samplesPerSecond=${rate}`);
  process.exit(0);
} else {
  runSection('training', main);
}
