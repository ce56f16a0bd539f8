/**
 * The ONNX teacher's soft-label throughput: the PyTorch-exported CNN of
 * test/fixtures/onnx (conv 8 → conv 16 → dense 64 → 10) run by ONNX Runtime's
 * CPU provider, against the same architecture (fedistill's `cnn` spec, same
 * layer sizes, seeded weights) run by tfjs on wasm, over the same digits. Also
 * what loading the ONNX teacher costs.
 */
import { fileURLToPath } from 'node:url';
import { buildModel, cnnSpec } from '../../shared/models/index.js';
import { softmaxRows } from '../../shared/softLabels/index.js';
import { loadMnist } from '../../node/data/index.js';
import { selectNodeBackend } from '../../node/backend.js';
import { loadOnnxTeacher, teacherFromLayersModel } from '../../server/teachers/index.js';
import type { Teacher } from '../../server/teachers/index.js';
import type { BenchRow } from '../lib/common.js';
import { fmt, log, now, ratio, runSection, size } from '../lib/common.js';

const MODEL = fileURLToPath(new URL('../../test/fixtures/onnx/small-cnn.onnx', import.meta.url));
const SAMPLES = size(2000, 200);
const REPEATS = size(5, 1);

/** Median samples/s of soft labels (logits, then softmax at T=4), after one warm-up. */
async function softLabelRate(teacher: Teacher, x: Float32Array, count: number): Promise<number> {
  softmaxRows(await teacher.logits(x, count), teacher.numClasses, 4);
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const started = now();
    softmaxRows(await teacher.logits(x, count), teacher.numClasses, 4);
    times.push(now() - started);
  }
  times.sort((a, b) => a - b);
  return count / (times[Math.floor(times.length / 2)]! / 1000);
}

async function main(): Promise<BenchRow[]> {
  await selectNodeBackend({ force: 'wasm' });
  const digits = loadMnist({ count: SAMPLES });
  const loadStarted = now();
  const onnx = await loadOnnxTeacher(MODEL, { provider: 'cpu' });
  const loadMs = now() - loadStarted;
  const onnxRate = await softLabelRate(onnx, digits.x, digits.count);
  const tfjs = teacherFromLayersModel(buildModel(cnnSpec({ numClasses: 10 }), 1), {
    description: 'tfjs cnn',
    hash: 'bench',
    outputs: 'logits',
  });
  const tfjsRate = await softLabelRate(tfjs, digits.x, digits.count);
  log(`onnxTeacher: onnxruntime cpu ${fmt(onnxRate)}/s, tfjs wasm ${fmt(tfjsRate)}/s`);
  const params = onnx.numParams;
  onnx.dispose();
  tfjs.dispose();
  return [
    {
      id: 'onnx.softlabels.cpu',
      item: `ONNX teacher (PyTorch CNN, ${fmt(params)} params) soft labels, ${fmt(digits.count)} digits, onnxruntime-node CPU provider`,
      value: `${fmt(onnxRate)} samples/s`,
      reference: `same architecture in tfjs (wasm) ${fmt(tfjsRate)} samples/s`,
      ratio: `${ratio(onnxRate, tfjsRate, 1)} tfjs wasm`,
      note: 'median of the timed runs after one warm-up; batches of 256; one process on this machine',
    },
    {
      id: 'onnx.load',
      item: 'ONNX teacher load: read, decode the graph, create the CPU session',
      value: `${fmt(loadMs, 1)} ms`,
    },
  ];
}

runSection('onnxTeacher', main);
