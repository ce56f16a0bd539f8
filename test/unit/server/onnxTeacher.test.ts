/**
 * The ONNX teacher against PyTorch: a small CNN trained and exported by
 * test/fixtures/onnx/train_cnn.py, whose logits, softmax at T=1 and T=3,
 * hidden features and an intermediate tensor PyTorch computed on eight fixed
 * inputs are in expected.json. fedistill's numbers for the same inputs must
 * match them; bad files and bad layer names fail naming the file.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { mlpSpec } from '../../../shared/models/index.js';
import { softmaxRows } from '../../../shared/softLabels/index.js';
import { prepareRun } from '../../../server/prepareRun.js';
import type { OnnxTeacher } from '../../../server/teachers/index.js';
import {
  checkTeacherFitsData,
  cudaProviderMissing,
  loadOnnxTeacher,
  loadTeacherFile,
} from '../../../server/teachers/index.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/onnx/', import.meta.url));
const MODEL = join(FIXTURES, 'small-cnn.onnx');

interface Expected {
  inputShape: number[];
  numClasses: number;
  probeLabels: (number | null)[];
  inputs: number[][];
  logits: number[][];
  probabilities: number[][];
  probabilitiesT3: number[][];
  features: number[][];
  intermediateName: string;
  intermediateShape: number[];
  intermediate: number[][];
  parameters: number;
}

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Expected;
const count = expected.inputs.length;
const x = Float32Array.from(expected.inputs.flat());
let teacher: OnnxTeacher;
let scratch: string;
const logLines: string[] = [];

before(async () => {
  teacher = await loadOnnxTeacher(MODEL, { log: (line) => logLines.push(line) });
  scratch = mkdtempSync(join(tmpdir(), 'fedistill-onnx-'));
});

after(() => {
  teacher.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

function maxAbsDiff(actual: ArrayLike<number>, wanted: number[][]): number {
  const flat = wanted.flat();
  assert.equal(actual.length, flat.length, 'same number of values');
  let max = 0;
  for (let i = 0; i < flat.length; i++) max = Math.max(max, Math.abs(actual[i]! - flat[i]!));
  return max;
}

test('the ONNX teacher reads input shape, class count and parameters from the file', () => {
  assert.deepEqual([...teacher.inputShape], expected.inputShape);
  assert.equal(teacher.numClasses, expected.numClasses);
  // conv1 8·1·9+8, conv2 16·8·9+16, fc1 400·64+64, fc2 64·10+10 = 27,562
  assert.equal(teacher.numParams, 27_562);
  assert.equal(teacher.numParams, expected.parameters);
  assert.match(teacher.hash, /^[0-9a-f]{64}$/);
  assert.match(teacher.backendName, /^onnxruntime:(cpu|cuda)$/);
  assert.ok(
    logLines.some((line) => line.startsWith('onnx runtime: ')),
    `provider logged: ${logLines.join(' | ')}`,
  );
});

test("soft labels from the ONNX teacher match PyTorch's logits and softmax at T=1 and T=3", async () => {
  const logits = await teacher.logits(x, count);
  assert.ok(maxAbsDiff(logits, expected.logits) < 1e-4, 'logits');
  const t1 = softmaxRows(logits, teacher.numClasses, 1);
  const t3 = softmaxRows(logits, teacher.numClasses, 3);
  assert.ok(maxAbsDiff(t1, expected.probabilities) < 1e-5, 'softmax T=1');
  assert.ok(maxAbsDiff(t3, expected.probabilitiesT3) < 1e-5, 'softmax T=3');
  // Same predicted class as PyTorch on every row, and a trained teacher: most real digits right.
  const argmax = (row: ArrayLike<number>) => {
    let best = 0;
    for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
    return best;
  };
  let right = 0;
  expected.probeLabels.forEach((label, row) => {
    const ours = argmax(logits.subarray(row * 10, row * 10 + 10));
    assert.equal(ours, argmax(expected.logits[row]!), `probe ${row}`);
    if (ours === label) right += 1;
  });
  assert.ok(right >= 5, `${right} of 6 real digits classified right`);
});

test('a batch larger than one run is split and joined in order', async () => {
  // 300 rows (more than the 256 a run takes): the probes repeated, then compared row by row.
  const rows = 300;
  const big = new Float32Array((rows * x.length) / count);
  for (let r = 0; r < rows; r++)
    big.set(x.subarray((r % count) * 784, ((r % count) + 1) * 784), r * 784);
  const logits = await teacher.logits(big, rows);
  const wanted = Array.from({ length: rows }, (_, r) => expected.logits[r % count]!);
  assert.ok(maxAbsDiff(logits, wanted) < 1e-4);
});

test("features: the graph's second output by default, any intermediate tensor by name", async () => {
  const layers = teacher.featureLayers();
  assert.equal(layers[0], 'features');
  assert.ok(layers.includes(expected.intermediateName), layers.join(', '));
  assert.ok(!layers.includes('logits'), 'the logits are not a feature layer');

  const hidden = await teacher.features!(x, count);
  assert.equal(hidden.layer, 'features');
  assert.equal(hidden.width, 64);
  assert.ok(maxAbsDiff(hidden.data, expected.features) < 1e-4, 'hidden features');

  // Not a graph output: read by adding it as one in a second session.
  const pooled = await teacher.features!(x, count, expected.intermediateName);
  assert.equal(
    pooled.width,
    expected.intermediateShape.reduce((a, b) => a * b, 1),
  );
  assert.ok(maxAbsDiff(pooled.data, expected.intermediate) < 1e-4, 'intermediate tensor');
});

test('--teacher-feature-layer: a named tensor becomes the default; an unknown name fails at load, listing the available ones', async () => {
  const named = await loadOnnxTeacher(MODEL, { featureLayer: expected.intermediateName });
  try {
    assert.equal(named.featureLayers()[0], expected.intermediateName);
    const pooled = await named.features!(x, count);
    assert.ok(maxAbsDiff(pooled.data, expected.intermediate) < 1e-4);
  } finally {
    named.dispose();
  }
  await assert.rejects(
    loadTeacherFile(MODEL, { featureLayer: 'fc9' }),
    (error: Error) =>
      error.message.includes(MODEL) &&
      error.message.includes("no feature layer 'fc9'") &&
      error.message.includes('features') &&
      error.message.includes(expected.intermediateName),
  );
  await assert.rejects(teacher.features!(x, count, 'nope'), /no feature layer 'nope'; available: /);
});

test('a truncated, a corrupt and a missing ONNX file fail with the file named', async () => {
  const bytes = readFileSync(MODEL);
  const truncated = join(scratch, 'truncated.onnx');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(
    loadOnnxTeacher(truncated),
    (error: Error) =>
      error.message.startsWith(`${truncated} is not a readable ONNX model`) &&
      error.message.includes('truncated or corrupt'),
  );
  const corrupt = join(scratch, 'corrupt.onnx');
  writeFileSync(
    corrupt,
    'this is a model.json renamed, not an ONNX file {"format": "layers-model"}',
  );
  await assert.rejects(loadOnnxTeacher(corrupt), (error: Error) =>
    error.message.startsWith(corrupt),
  );
  const missing = join(scratch, 'absent.onnx');
  await assert.rejects(loadTeacherFile(missing), {
    message: `cannot read ONNX teacher ${missing}: no such file`,
  });
});

test('a teacher for other data is refused before inference, naming the file', () => {
  assert.doesNotThrow(() => checkTeacherFitsData(teacher, { featureSize: 784, numClasses: 10 }));
  assert.throws(
    () => checkTeacherFitsData(teacher, { featureSize: 3072, numClasses: 10, source: 'cifar/' }),
    {
      message: `ONNX model ${MODEL} takes inputs of shape [1, 28, 28] (784 values), but cifar/ has 3072 values a sample`,
    },
  );
  assert.throws(() => checkTeacherFitsData(teacher, { featureSize: 784, numClasses: 5 }), {
    message: `ONNX model ${MODEL} predicts 10 classes, but the data has 5`,
  });
});

test('the CUDA provider: forced, it runs or fails saying why; auto falls back to CPU and says why', async () => {
  const missing = cudaProviderMissing();
  const copy = join(scratch, 'copy.onnx');
  copyFileSync(MODEL, copy);
  if (missing !== undefined) {
    assert.match(missing, /ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    await assert.rejects(
      loadOnnxTeacher(copy, { provider: 'cuda' }),
      (error: Error) => error.message.includes(copy) && error.message.includes(missing),
    );
    assert.equal(teacher.backendName, 'onnxruntime:cpu');
    assert.deepEqual(teacher.providers, [
      { provider: 'cuda', error: missing },
      { provider: 'cpu' },
    ]);
  } else {
    // A machine with the CUDA provider installed: it either runs, and agrees with PyTorch, or says why not.
    try {
      const cuda = await loadOnnxTeacher(copy, { provider: 'cuda' });
      assert.equal(cuda.backendName, 'onnxruntime:cuda');
      assert.ok(maxAbsDiff(await cuda.logits(x, count), expected.logits) < 1e-3);
      cuda.dispose();
    } catch (error) {
      assert.match((error as Error).message, /ONNX Runtime cannot load .* \(cuda: /);
    }
  }
});

test('prepareRun refuses an ONNX teacher whose class count differs from the student spec, before any soft label', async () => {
  const test_ = { x, y: new Int32Array(count), count };
  await assert.rejects(
    prepareRun({
      config: { dataDir: join(scratch, 'run') },
      teacher,
      studentSpec: mlpSpec(784, [8], 5),
      data: { proxy: { x, count, featureShape: [784] }, test: test_ },
    }),
    (error: Error) =>
      error.message.startsWith(
        `ONNX model ${MODEL} predicts 10 classes, but this run's proxy data and student spec`,
      ) && error.message.endsWith('has 5'),
  );
  await assert.rejects(
    prepareRun({
      config: { dataDir: join(scratch, 'run') },
      teacher,
      studentSpec: mlpSpec(100, [8], 10),
      data: { proxy: { x: new Float32Array(100 * 4), count: 4, featureShape: [100] }, test: test_ },
    }),
    /takes inputs of shape \[1, 28, 28\] \(784 values\), but this run's .* has 100 values a sample/,
  );
});

test('a model exported with a fixed batch size runs in padded chunks of that size', async () => {
  // The same model with its batch axis fixed at 3 (rewritten with onnx-proto), fed 8 rows: 3 + 3 + 2 padded.
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(MODEL));
  for (const value of [...model.graph!.input!, ...model.graph!.output!]) {
    value.type!.tensorType!.shape!.dim![0] = { dimValue: 3 };
  }
  const fixed = join(scratch, 'fixed-batch.onnx');
  writeFileSync(fixed, onnxProto.onnx.ModelProto.encode(model).finish());
  const teacher3 = await loadOnnxTeacher(fixed);
  try {
    assert.ok(maxAbsDiff(await teacher3.logits(x, count), expected.logits) < 1e-4);
    const hidden = await teacher3.features!(x, count, expected.intermediateName);
    assert.ok(maxAbsDiff(hidden.data, expected.intermediate) < 1e-4);
  } finally {
    teacher3.dispose();
  }
});

test('channels-last data rows are transposed for a channels-first (NCHW) model with several channels', async () => {
  // A hand-built ONNX graph: input [N, 3, 2, 2] → Flatten → output [N, 12], so the output is the
  // model's view of the input in C, H, W order.
  const { onnx } = onnxProto;
  const dims = (values: (number | string)[]) => ({
    dim: values.map((v) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v })),
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'flatten',
      node: [
        {
          opType: 'Flatten',
          input: ['x'],
          output: ['y'],
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: dims(['n', 3, 2, 2]) } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: dims(['n', 12]) } } }],
    },
  });
  const path = join(scratch, 'flatten-nchw.onnx');
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  // One 2×2 RGB image stored channels-last: pixel p has channels [10p, 10p+1, 10p+2].
  const row = Float32Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
  const lines: string[] = [];
  const nchw = await loadOnnxTeacher(path, { outputs: 'logits', log: (l) => lines.push(l) });
  assert.deepEqual([...nchw.inputShape], [2, 2, 3], 'the teacher takes the data layout');
  // Channel 0 of the four pixels, then channel 1, then channel 2.
  assert.deepEqual(
    Array.from(await nchw.logits(row, 1)),
    [0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32],
  );
  assert.ok(
    lines.some((l) => l.includes('are transposed')),
    lines.join('\n'),
  );
  nchw.dispose();
  const nhwc = await loadOnnxTeacher(path, { outputs: 'logits', inputLayout: 'nhwc' });
  assert.deepEqual([...nhwc.inputShape], [3, 2, 2]);
  assert.deepEqual(Array.from(await nhwc.logits(row, 1)), Array.from(row));
  nhwc.dispose();
});
