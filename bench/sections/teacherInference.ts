/**
 * Teacher inference: soft-label throughput (samples/s) of the default teacher
 * (MLP 784-1200-1200-10) the way the coordinator makes them — the Teacher's
 * batched logits (batches of 256) then `softmaxRows` at the training
 * temperature. Side by side in one process: the default path (the tfjs
 * layers model converted to ONNX in memory by server/teachers/layersToOnnx.ts
 * and run on onnxruntime-node's CPU provider, the Teacher that
 * layersTeacherOnRuntime returns), the tfjs wasm path (`--teacher-runtime
 * wasm`, and the fallback), PyTorch running the same model and the same
 * softmax (bench/pytorch/torch_bench.py), the same model exported by
 * torch.onnx.export on onnxruntime-node — each at 1 thread and at all cores —
 * and native TensorFlow when the optional @tensorflow/tfjs-node loads ("not
 * installed" otherwise). Weights are random: throughput does not depend on their values.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '../../node/backend.js';
import { DEFAULT_TRAINING } from '../../server/config.js';
import {
  layersTeacherOnRuntime,
  teacherFromForward,
  teacherFromLayersModel,
} from '../../server/teachers/index.js';
import { buildModel, mlpSpec } from '../../shared/models/index.js';
import { softmaxRows } from '../../shared/softLabels/softmaxRows.js';
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

const HIDDEN = size([1200, 1200], [128, 128]);
const SIZES = [784, ...HIDDEN, 10];
const NAME = `Teacher MLP ${SIZES.join('-')}`;
/** The Teacher's own batch size (server/teacher.ts). */
const BATCH = 256;
/** Samples labelled per timed pass. */
const COUNT = size(4096, 512);
const REPEATS = size(3, 1);
const TORCH_SECONDS = size(3, 0.3);
const TEMPERATURE = DEFAULT_TRAINING.temperature;

/** Best-of-REPEATS samples/s of `label` over COUNT samples (one untimed warm-up pass). */
async function samplesPerSecond(label: () => Promise<unknown> | unknown): Promise<number> {
  await label();
  let best = 0;
  for (let i = 0; i < REPEATS; i++) {
    const started = now();
    await label();
    best = Math.max(best, (COUNT * 1000) / (now() - started));
  }
  return best;
}

/** The subset of onnxruntime-node this section uses (the package is optional, so no static types). */
interface OrtModule {
  InferenceSession: {
    create(
      path: string,
      options: { intraOpNumThreads: number; interOpNumThreads: number },
    ): Promise<OrtSession>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
  release?(): Promise<void>;
}

async function importOrt(): Promise<OrtModule | undefined> {
  // A variable specifier: the package is optional, and TypeScript must not require it.
  const specifier = 'onnxruntime-node';
  try {
    const module = (await import(specifier)) as OrtModule & { default?: OrtModule };
    return module.InferenceSession ? module : module.default;
  } catch {
    return undefined;
  }
}

/** onnxruntime-node soft labels at each thread count, or why it could not run. */
async function measureOrt(
  x: Float32Array,
  probe: TorchProbe | undefined,
): Promise<{ threads: number; value: string; rate?: number }[]> {
  const threadCounts = torchThreadCounts();
  const ort = await importOrt();
  if (!ort) return threadCounts.map((threads) => ({ threads, value: NOT_INSTALLED }));
  if (!probe?.torch) {
    // The ONNX file of the same model is written by torch.onnx.export.
    return threadCounts.map((threads) => ({
      threads,
      value: 'not measured: writing the ONNX model needs python3-torch',
    }));
  }
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-ort-'));
  try {
    const path = join(dir, 'teacher.onnx');
    const [exported] = await runTorch([{ kind: 'export-onnx-mlp', sizes: SIZES, path }], 1);
    if (exported?.error !== undefined) {
      return threadCounts.map((threads) => ({
        threads,
        value: `failed: ONNX export ${exported.error ?? ''}`,
      }));
    }
    const out: { threads: number; value: string; rate?: number }[] = [];
    for (const threads of threadCounts) {
      const session = await ort.InferenceSession.create(path, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
      });
      const label = async (): Promise<void> => {
        for (let start = 0; start < COUNT; start += BATCH) {
          const rows = Math.min(BATCH, COUNT - start);
          const input = new ort.Tensor('float32', x.subarray(start * 784, (start + rows) * 784), [
            rows,
            784,
          ]);
          const result = await session.run({ x: input });
          softmaxRows(result.logits?.data as Float32Array, 10, TEMPERATURE);
        }
      };
      const rate = await samplesPerSecond(label);
      await session.release?.();
      out.push({ threads, value: `${fmt(rate)} samples/s`, rate });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The default path at each thread count: the layers model converted to ONNX by
 * layersTeacherOnRuntime (forced, so a failure shows instead of a silent fallback).
 */
async function measureConverted(
  spec: ReturnType<typeof mlpSpec>,
  x: Float32Array,
): Promise<{ threads: number; rate: number; conversion: string }[]> {
  const out: { threads: number; rate: number; conversion: string }[] = [];
  for (const threads of torchThreadCounts()) {
    const model = buildModel(spec, 1);
    let conversion = '';
    const teacher = await layersTeacherOnRuntime(
      model,
      teacherFromLayersModel(model, { description: NAME, hash: 'bench', outputs: 'logits' }),
      'logits',
      {
        runtime: 'onnx',
        threads,
        probe: x.subarray(0, 32 * 784),
        log: (line) => (conversion = line),
      },
    );
    try {
      const before = tf.memory().numTensors;
      const rate = await samplesPerSecond(async () =>
        softmaxRows(await teacher.logits(x, COUNT), 10, TEMPERATURE),
      );
      if (tf.memory().numTensors !== before) throw new Error('converted teacher leaked tensors');
      out.push({ threads, rate, conversion });
    } finally {
      teacher.dispose();
    }
  }
  return out;
}

function threadsLabel(threads: number): string {
  return threads === 1 ? '1 thread' : `${threads} threads`;
}

async function main(): Promise<BenchRow[]> {
  const backend = await selectNodeBackend({ force: 'wasm' });
  const spec = mlpSpec(784, HIDDEN, 10);
  const model = buildModel(spec, 1);
  const teacher = teacherFromForward({
    description: NAME,
    numParams: model.countParams(),
    hash: 'bench',
    inputShape: spec.inputShape,
    numClasses: 10,
    outputs: 'logits',
    forward: (input) => model.predict(input) as tf.Tensor,
    dispose: () => model.dispose(),
  });
  const x = fillRandom(new Float32Array(COUNT * 784), 5, 0.5).map((v) => v + 0.5);
  const measureTeacher = async (): Promise<number> => {
    const before = tf.memory().numTensors;
    const rate = await samplesPerSecond(() =>
      softmaxRows(teacher.predictLogits(x, COUNT), 10, TEMPERATURE),
    );
    if (tf.memory().numTensors !== before) throw new Error('teacher inference leaked tensors');
    return rate;
  };
  let wasmRate: number;
  let tfjsNode: string | undefined;
  let nativeRate: number | undefined;
  try {
    wasmRate = await measureTeacher();
    // The same model on native TensorFlow, when tfjs-node loads (weights move with the backend switch).
    tfjsNode = await useTfjsNode();
    if (tfjsNode) nativeRate = await measureTeacher();
  } finally {
    teacher.dispose();
  }
  log(`teacherInference: ${backend.name} ${fmt(wasmRate)} samples/s`);
  const converted = await measureConverted(spec, x);
  for (const entry of converted)
    log(
      `teacherInference: converted on onnxruntime, ${threadsLabel(entry.threads)}: ${fmt(entry.rate)} samples/s (${entry.conversion})`,
    );

  const probe = await probeTorch();
  const torch: { threads: number; result?: TorchResult }[] = [];
  for (const threads of torchThreadCounts()) {
    if (!probe?.torch) {
      torch.push({ threads });
      continue;
    }
    const [result] = await runTorch(
      [
        {
          kind: 'infer-mlp',
          sizes: SIZES,
          batch: BATCH,
          count: COUNT,
          temperature: TEMPERATURE,
          seconds: TORCH_SECONDS,
        },
      ],
      threads,
    );
    torch.push({ threads, ...(result ? { result } : {}) });
  }
  const ort = await measureOrt(x, probe);
  const torchOne = figure(torch[0]?.result, 'samplesPerSecond');
  const torchName = probe?.torch ? torchLabel(probe) : 'PyTorch';

  const exportedOne = ort.find((entry) => entry.threads === 1)?.rate;
  const rows: BenchRow[] = [];
  for (const entry of converted) {
    const versus = torchOne === undefined ? undefined : entry.rate / torchOne;
    rows.push({
      id: `teacher.softlabels.onnx-converted.${entry.threads === 1 ? '1t' : 'all'}`,
      item: `${NAME}: soft labels (Teacher.logits b${BATCH} + softmaxRows T=${TEMPERATURE}), the default path: tfjs layers model converted to ONNX, onnxruntime-node CPU provider (${threadsLabel(entry.threads)})`,
      value: `${fmt(entry.rate)} samples/s`,
      reference:
        torchOne === undefined
          ? `PyTorch: ${NOT_INSTALLED}; tfjs wasm ${fmt(wasmRate)}/s`
          : `${torchName} 1 thread ${fmt(torchOne)}/s; tfjs wasm ${fmt(wasmRate)}/s`,
      ratio:
        versus === undefined
          ? `${ratio(entry.rate, wasmRate)} of wasm`
          : `${ratio(entry.rate, torchOne!)} of PyTorch; ${ratio(entry.rate, wasmRate)} of wasm`,
      note:
        entry.threads === 1
          ? 'target ≥ 0.8× PyTorch inference on the same model; converted in memory by server/teachers/layersToOnnx.ts, checked against tfjs on a probe batch'
          : `converted in memory, checked against tfjs on a probe batch; ${availableParallelism()} cores`,
      ...(entry.threads === 1
        ? {
            target: {
              achieved: versus,
              goal: 0.8,
              what: `default teacher soft labels (converted to ONNX, onnxruntime-node CPU, 1 thread) / ${torchName} inference of the same model (1 thread)`,
              limit:
                exportedOne === undefined
                  ? 'onnxruntime-node CPU provider against PyTorch on this machine (the torch.onnx.export model on the same runtime was not measured: it needs python3-torch)'
                  : `the runtime, not the conversion: the same model exported by torch.onnx.export runs at ${fmt(exportedOne)}/s on the same provider (teacher.softlabels.onnxruntime.1t), the converted one at ${ratio(entry.rate, exportedOne)} of it`,
            },
          }
        : {}),
    });
  }
  rows.push({
    id: 'teacher.softlabels.wasm',
    item: `${NAME}: soft labels (predictLogits b${BATCH} + softmaxRows T=${TEMPERATURE}), tfjs ${backend.name} (--teacher-runtime wasm, and the fallback)`,
    value: `${fmt(wasmRate)} samples/s`,
    reference:
      torchOne === undefined
        ? `PyTorch: ${NOT_INSTALLED}`
        : `${torchName} 1 thread ${fmt(torchOne)}/s`,
    ratio: torchOne === undefined ? 'n/a' : ratio(wasmRate, torchOne),
    note: 'tfjs-wasm runs one XNNPACK thread per process in Node; the default is now the converted model on onnxruntime-node (teacher.softlabels.onnx-converted.*)',
  });
  rows.push({
    id: 'teacher.softlabels.tfjs-node',
    item: `${NAME}: soft labels, native TensorFlow (${tfjsNode ?? '@tensorflow/tfjs-node'})`,
    value: nativeRate === undefined ? NOT_INSTALLED : `${fmt(nativeRate)} samples/s`,
    reference: `tfjs wasm ${fmt(wasmRate)}/s`,
    ratio: nativeRate === undefined ? 'n/a' : ratio(nativeRate, wasmRate),
    note:
      nativeRate === undefined
        ? TFJS_NODE_HINT
        : torchOne === undefined
          ? 'TensorFlow uses its own threads'
          : `${ratio(nativeRate, torchOne)} of ${torchName} 1 thread; TensorFlow uses its own threads`,
  });
  for (const entry of torch) {
    const rate = figure(entry.result, 'samplesPerSecond');
    rows.push({
      id: `teacher.softlabels.pytorch.${entry.threads === 1 ? '1t' : 'all'}`,
      item: `${NAME}: soft labels, ${torchName} (${threadsLabel(entry.threads)}, inference_mode), measured in this run`,
      value: torchCell(probe, entry.result, 'samplesPerSecond', 'samples/s'),
      reference: `tfjs wasm ${fmt(wasmRate)}/s`,
      ratio: rate === undefined ? 'n/a' : `wasm ${ratio(wasmRate, rate)}`,
      ...(rate === undefined ? { note: 'apt-get install python3-torch to measure' } : {}),
    });
  }
  for (const entry of ort) {
    rows.push({
      id: `teacher.softlabels.onnxruntime.${entry.threads === 1 ? '1t' : 'all'}`,
      item: `${NAME}: soft labels, onnxruntime-node CPU provider (${threadsLabel(entry.threads)})`,
      value: entry.value,
      reference:
        torchOne === undefined
          ? `tfjs wasm ${fmt(wasmRate)}/s`
          : `${torchName} 1 thread ${fmt(torchOne)}/s`,
      ratio:
        entry.rate === undefined
          ? 'n/a'
          : torchOne === undefined
            ? `${ratio(entry.rate, wasmRate)} of wasm`
            : `${ratio(entry.rate, torchOne)} of PyTorch; ${ratio(entry.rate, wasmRate)} of wasm`,
      note:
        entry.rate === undefined
          ? 'optional dependency: npm install onnxruntime-node to measure'
          : `same model exported by torch.onnx.export; ${availableParallelism()} cores`,
    });
  }
  return rows;
}

runSection('teacherInference', main);
