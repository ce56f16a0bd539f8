/**
 * Local training throughput (samples/s) of the MLP 784-800-800-10 and the
 * default CNN at batch 128: fedistill's trainLocal (fast forward with custom
 * gradients) on the project's default backend, against stock tfjs
 * (optimizer.minimize over model.apply, stock gradients) on wasm and on cpu,
 * plus fedistill with one process per core; PyTorch on the same models at 1
 * thread and at every core (bench/pytorch/torch_bench.py, measured now); and
 * the platforms' limits: tfjs-backend-wasm's matMul and native sgemm GFLOP/s,
 * so each training figure stands beside its ceiling; and, when the optional
 * @tensorflow/tfjs-node is installed, fedistill's trainLocal and the matMul
 * on native TensorFlow (the rows say "not installed" otherwise). Same data,
 * same loss (softmax cross-entropy), same optimizer (SGD) everywhere.
 *
 * Run by bench/main.ts; `FEDISTILL_BENCH_WORKER=1` makes it one of the
 * per-core worker processes instead.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '../../node/backend.js';
import type { LabeledData } from '../../shared/data/types.js';
import { buildModel, cnnSpec, mlpSpec } from '../../shared/models/index.js';
import type { ModelSpec } from '../../shared/models/index.js';
import { trainLocal } from '../../shared/training/index.js';
import type { BenchRow } from '../lib/common.js';
import { fillRandom, fmt, log, now, ratio, runSection, size } from '../lib/common.js';
import { TFJS_NODE_HINT, useTfjsNode } from '../lib/tfjsNode.js';
import type { TorchProbe, TorchResult } from '../lib/pytorch.js';
import {
  figure,
  NOT_INSTALLED,
  probeTorch,
  runTorch,
  torchCell,
  torchLabel,
  torchThreadCounts,
} from '../lib/pytorch.js';

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
/** Seconds each PyTorch measurement runs for (after warm-up steps). */
const TORCH_SECONDS = size(3, 0.3);
/** The matmul both ceilings are measured on: the MLP's hidden layer, [batch, h]·[h, h]. */
const GEMM = { m: BATCH, k: HIDDEN[0] ?? 800, n: HIDDEN[1] ?? 800 };

/**
 * FLOPs of one training sample: each dense / conv layer does its forward
 * multiply-adds once for the output, once for the weight gradient and once for
 * the input gradient, except the first layer, whose input needs no gradient
 * (fedistill's fast ops and PyTorch both skip it). ReLU, pooling and the loss
 * are not counted.
 */
export function trainingFlopsPerSample(spec: ModelSpec): number {
  let shape = [...spec.inputShape];
  let total = 0;
  let first = true;
  for (const layer of spec.layers) {
    let macs = 0;
    if (layer.type === 'dense') {
      const inputs = shape.reduce((a, b) => a * b, 1);
      macs = inputs * layer.units;
      shape = [layer.units];
    } else if (layer.type === 'conv2d') {
      const [h = 0, w = 0, c = 1] = shape;
      const k = layer.kernelSize;
      const [oh, ow] = (layer.padding ?? 'valid') === 'same' ? [h, w] : [h - k + 1, w - k + 1];
      macs = oh * ow * layer.filters * k * k * c;
      shape = [oh, ow, layer.filters];
    } else if (layer.type === 'maxPool2d') {
      const [h = 0, w = 0, c = 1] = shape;
      shape = [Math.floor(h / layer.poolSize), Math.floor(w / layer.poolSize), c];
    } else if (layer.type === 'flatten') {
      shape = [shape.reduce((a, b) => a * b, 1)];
    }
    if (macs > 0) {
      total += 2 * macs * (first ? 2 : 3);
      first = false;
    }
  }
  // The implicit logits layer.
  const inputs = shape.reduce((a, b) => a * b, 1);
  return total + 2 * inputs * spec.numClasses * (first ? 2 : 3);
}

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

/** GFLOP/s of tf.matMul [m, k]·[k, n] on the current backend, best of a few timed batches. */
function matMulGflops(m: number, k: number, n: number): number {
  const a = tf.randomUniform([m, k]);
  const b = tf.randomUniform([k, n]);
  const flops = 2 * m * k * n;
  const once = (): void => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  try {
    for (let i = 0; i < 3; i++) once();
    // Enough multiplies per timed batch for ~0.1 s at 20 GFLOP/s.
    const perBatch = Math.max(3, Math.round(2e9 / flops));
    let best = 0;
    for (let batch = 0; batch < size(5, 2); batch++) {
      const started = now();
      for (let i = 0; i < perBatch; i++) once();
      best = Math.max(best, (perBatch * flops) / ((now() - started) / 1000) / 1e9);
    }
    return best;
  } finally {
    a.dispose();
    b.dispose();
  }
}

interface TorchFigures {
  probe: TorchProbe | undefined;
  /** Per thread count: sgemm, MLP training, CNN training results. */
  byThreads: { threads: number; sgemm?: TorchResult; mlp?: TorchResult; cnn?: TorchResult }[];
}

/** PyTorch on the same work at 1 thread and at all cores; empty results when torch is absent. */
async function measureTorch(): Promise<TorchFigures> {
  const probe = await probeTorch();
  const threadCounts = torchThreadCounts();
  if (!probe) return { probe, byThreads: threadCounts.map((threads) => ({ threads })) };
  log(
    `training: ${probe.torch ? torchLabel(probe) : 'torch not installed'}; numpy ${probe.numpy ?? 'absent'}`,
  );
  const byThreads: TorchFigures['byThreads'] = [];
  for (const threads of threadCounts) {
    const sgemm = { kind: 'sgemm' as const, ...GEMM, seconds: TORCH_SECONDS };
    if (!probe.torch) {
      const [sgemmResult] = probe.numpy ? await runTorch([sgemm], threads) : [];
      byThreads.push({ threads, ...(sgemmResult ? { sgemm: sgemmResult } : {}) });
      continue;
    }
    const [sgemmResult, mlp, cnn] = await runTorch(
      [
        sgemm,
        { kind: 'train-mlp', sizes: [784, ...HIDDEN, 10], batch: BATCH, seconds: TORCH_SECONDS },
        {
          kind: 'train-cnn',
          filters: [8, 16],
          hidden: [64],
          classes: 10,
          kernel: 3,
          batch: BATCH,
          seconds: TORCH_SECONDS,
        },
      ],
      threads,
    );
    log(
      `training: PyTorch ${threads} thread(s): sgemm ${fmt(figure(sgemmResult, 'gflops') ?? NaN, 1)} GFLOP/s, ` +
        `MLP ${fmt(figure(mlp, 'samplesPerSecond') ?? NaN)}/s, CNN ${fmt(figure(cnn, 'samplesPerSecond') ?? NaN)}/s`,
    );
    byThreads.push({
      threads,
      ...(sgemmResult ? { sgemm: sgemmResult } : {}),
      ...(mlp ? { mlp } : {}),
      ...(cnn ? { cnn } : {}),
    });
  }
  return { probe, byThreads };
}

/** Debian's default libblas.so.3 is the unoptimised reference BLAS: say how to get a real one. */
function referenceBlasHint(probe: TorchProbe | undefined): string {
  return probe?.blas?.startsWith('reference')
    ? '; reference BLAS: apt-get install libopenblas0-pthread for an optimised one'
    : '';
}

function threadsLabel(threads: number): string {
  return threads === 1 ? '1 thread' : `${threads} threads`;
}

/** "12.3 GFLOP/s" of a training rate, or "" when the rate is missing. */
function gflopsOf(
  samplesPerSecond: number | undefined,
  flopsPerSample: number,
): number | undefined {
  return samplesPerSecond === undefined ? undefined : (samplesPerSecond * flopsPerSample) / 1e9;
}

async function main(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // wasm explicitly: with tfjs-node installed the default would be native TensorFlow, which has rows of its own.
  const choice = await selectNodeBackend({ force: 'wasm' });
  const defaultBackend = choice.name;
  log(`training: default backend ${defaultBackend}; ${MLP_NAME}`);
  const mlpFlops = trainingFlopsPerSample(MLP);
  const cnnFlops = trainingFlopsPerSample(CNN);

  const fast = await fedistillSamplesPerSecond(MLP, STEPS.fast);
  await useBackend('wasm');
  const stockWasm = await stockSamplesPerSecond(MLP, STEPS.stockWasm);
  const wasmCeiling = matMulGflops(GEMM.m, GEMM.k, GEMM.n);
  await useBackend('cpu');
  const stockCpu = await stockSamplesPerSecond(MLP, STEPS.stockCpu);
  const cores = 2;
  const parallel = await parallelSamplesPerSecond(cores);

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

  // Native TensorFlow through tfjs-node, when installed.
  const tfjsNode = await useTfjsNode();
  const native = tfjsNode
    ? {
        train: await fedistillSamplesPerSecond(MLP, STEPS.fast),
        gflops: matMulGflops(GEMM.m, GEMM.k, GEMM.n),
      }
    : undefined;
  if (tfjsNode) await useBackend('wasm');

  // PyTorch last, alone on the machine (no tfjs work running at the same time).
  const torch = await measureTorch();
  const oneThread = torch.byThreads[0];
  const nativeCeiling1 = figure(oneThread?.sgemm, 'gflops');
  const gemmName = `sgemm ${GEMM.m}×${GEMM.k}·${GEMM.k}×${GEMM.n}`;
  const torchName = torch.probe?.torch ? torchLabel(torch.probe) : 'PyTorch';

  const fastGflops = gflopsOf(fast, mlpFlops) ?? 0;
  rows.push({
    id: 'ceiling.wasm-matmul',
    item: `${gemmName}: tfjs-backend-wasm matMul (XNNPACK, 1 thread)`,
    value: `${fmt(wasmCeiling, 1)} GFLOP/s`,
    reference:
      nativeCeiling1 === undefined
        ? `native sgemm: ${NOT_INSTALLED}`
        : `native sgemm 1 thread ${fmt(nativeCeiling1, 1)} GFLOP/s`,
    ratio: nativeCeiling1 === undefined ? 'n/a' : ratio(wasmCeiling, nativeCeiling1),
    note: 'the limit of wasm training: every dense layer is matMuls of about this shape',
  });
  for (const entry of torch.byThreads) {
    const gflops = figure(entry.sgemm, 'gflops');
    const library = typeof entry.sgemm?.library === 'string' ? entry.sgemm.library : 'torch.mm';
    rows.push({
      id: `ceiling.native-sgemm.${entry.threads === 1 ? '1t' : 'all'}`,
      item: `${gemmName}: native sgemm (${library}${torch.probe?.blas ? `, ${torch.probe.blas}` : ''}, ${threadsLabel(entry.threads)})`,
      value:
        gflops !== undefined
          ? `${fmt(gflops, 1)} GFLOP/s`
          : torch.probe?.numpy || torch.probe?.torch
            ? `failed: ${entry.sgemm?.error ?? 'no result'}`
            : NOT_INSTALLED,
      reference: `wasm matMul ${fmt(wasmCeiling, 1)} GFLOP/s`,
      ratio: gflops === undefined ? 'n/a' : ratio(gflops, wasmCeiling),
      note: `the limit of PyTorch training on this machine${referenceBlasHint(torch.probe)}`,
    });
  }
  rows.push({
    id: 'train.mlp.fedistill',
    item: `${MLP_NAME}: fedistill trainLocal (${defaultBackend}, 1 process)`,
    value: `${fmt(fast)} samples/s (${fmt(fastGflops, 1)} GFLOP/s)`,
    reference: `wasm matMul ceiling ${fmt(wasmCeiling, 1)} GFLOP/s`,
    ratio: `${ratio(fastGflops, wasmCeiling)} of ceiling`,
    note: `stock tfjs wasm ${fmt(stockWasm)}/s (fedistill ${ratio(fast, stockWasm)}); fast forward with custom grads (no transposed matMul on wasm); ${fmt(mlpFlops / 1e6, 2)} MFLOP/sample`,
    target: {
      achieved: wasmCeiling > 0 ? fastGflops / wasmCeiling : undefined,
      goal: 0.9,
      what: 'client training on wasm (MLP GFLOP/s) / the wasm matMul ceiling',
      limit:
        'the ceiling is the best of short matMul bursts while training is a sustained average, so other work on the machine lowers the training figure more (compare the load average); the work between the matMuls (explicit transposes, bias adds, ReLU, softmax cross-entropy, SGD updates) runs on the same single wasm thread and is not counted as FLOPs',
    },
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
  const nativeGflops = native ? (gflopsOf(native.train, mlpFlops) ?? 0) : 0;
  rows.push({
    id: 'train.mlp.tfjs-node',
    item: `${MLP_NAME}: fedistill trainLocal on native TensorFlow (${tfjsNode ?? '@tensorflow/tfjs-node'})`,
    value: native
      ? `${fmt(native.train)} samples/s (${fmt(nativeGflops, 1)} GFLOP/s)`
      : NOT_INSTALLED,
    reference: `fedistill on wasm ${fmt(fast)}/s`,
    ratio: native ? ratio(native.train, fast) : 'n/a',
    note: native
      ? `tfjs-node matMul ${gemmName} ${fmt(native.gflops, 1)} GFLOP/s (its own threads) vs wasm ${fmt(wasmCeiling, 1)}`
      : TFJS_NODE_HINT,
  });
  const torchRows = (
    model: 'mlp' | 'cnn',
    name: string,
    flops: number,
    ours: { one: number; all: number; allLabel: string },
  ): void => {
    for (const entry of torch.byThreads) {
      const result = entry[model];
      const rate = figure(result, 'samplesPerSecond');
      const gflops = gflopsOf(rate, flops);
      const ceiling = figure(entry.sgemm, 'gflops');
      const fedistill = entry.threads === 1 ? ours.one : ours.all;
      rows.push({
        id: `train.${model}.pytorch.${entry.threads === 1 ? '1t' : 'all'}`,
        item: `${name}: ${torchName} (${threadsLabel(entry.threads)}), measured in this run`,
        value:
          rate === undefined
            ? torchCell(torch.probe, result, 'samplesPerSecond', 'samples/s')
            : `${fmt(rate)} samples/s (${fmt(gflops ?? 0, 1)} GFLOP/s)`,
        reference: `fedistill ${fmt(fedistill)}/s (${entry.threads === 1 ? '1 process' : ours.allLabel})`,
        ratio: rate === undefined ? 'n/a' : `fedistill ${ratio(fedistill, rate)}`,
        note:
          rate === undefined
            ? 'apt-get install python3-torch to measure'
            : `PyTorch at ${ceiling === undefined ? 'n/a' : ratio(gflops ?? 0, ceiling)} of native sgemm (${threadsLabel(entry.threads)})${referenceBlasHint(torch.probe)}`,
      });
    }
  };
  torchRows('mlp', MLP_NAME, mlpFlops, {
    one: fast,
    all: parallel,
    allLabel: `${cores} processes`,
  });

  const cnnGflops = gflopsOf(cnnFast, cnnFlops) ?? 0;
  rows.push({
    id: 'train.cnn.fedistill',
    item: `${CNN_NAME}: fedistill trainLocal (${choiceAgain.name})`,
    value: `${fmt(cnnFast)} samples/s (${fmt(cnnGflops, 2)} GFLOP/s)`,
    reference: `stock tfjs cpu ${fmt(cnnCpu)}/s`,
    ratio: ratio(cnnFast, cnnCpu),
    note: `stock tfjs wasm: ${cnnStockWasm}; ${ratio(cnnGflops, wasmCeiling)} of the wasm matMul ceiling (small convs, ${fmt(cnnFlops / 1e6, 2)} MFLOP/sample)`,
  });
  rows.push({
    id: 'train.cnn.stock-cpu',
    item: `${CNN_NAME}: stock tfjs cpu`,
    value: `${fmt(cnnCpu)} samples/s`,
    reference: `fedistill ${fmt(cnnFast)}/s`,
    ratio: ratio(cnnCpu, cnnFast),
  });
  torchRows('cnn', CNN_NAME, cnnFlops, {
    one: cnnFast,
    all: cnnFast,
    allLabel: '1 process',
  });
  return rows;
}

if (process.env.FEDISTILL_BENCH_WORKER === '1') {
  await selectNodeBackend({ force: 'wasm' });
  const rate = await fedistillSamplesPerSecond(MLP, STEPS.fast);
  console.log(`samplesPerSecond=${rate}`);
  process.exit(0);
} else {
  runSection('training', main);
}
