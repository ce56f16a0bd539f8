/**
 * tfjs layers models converted to ONNX (server/teachers/layersToOnnx.ts) and
 * run by onnxruntime-node give tfjs's predictions, layer type by layer type
 * and for the default teachers; features match; an unsupported layer is
 * named and the teacher stays on tfjs; the runtime choice (auto|onnx|wasm)
 * of server/teachers/teacherRuntime.ts, with no tensors leaked.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { saveModelAtomic } from '../../../node/modelFiles.js';
import { loadMnist } from '../../../node/data/index.js';
import { defaultTeacherSpec, loadOrTrainDefaultTeacher } from '../../../server/defaultTeacher.js';
import {
  layersModelToOnnx,
  layersTeacherOnRuntime,
  loadTeacherFile,
  parseTeacherRuntime,
  teacherFromLayersModel,
  UnsupportedLayerError,
} from '../../../server/teachers/index.js';
import { buildModel, mlpSpec } from '../../../shared/models/index.js';

const TOLERANCE = 1e-5;

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'fedistill-layers-onnx-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic values in [lo, hi): the same inputs every run. */
function seeded(length: number, seed: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = lo + ((state >>> 0) / 2 ** 32) * (hi - lo);
  }
  return out;
}

/**
 * Every weight of `model` set to seeded values (variances positive, biases
 * non-zero), so no layer is a no-op. Kernels are in ±1/sqrt(fan-in) so wide
 * layers keep activations near 1, as trained ones do.
 */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
  model.weights.forEach((weight, i) => {
    const variable = weight.read() as tf.Variable;
    const isVariance = weight.originalName.endsWith('moving_variance');
    const fanIn = variable.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const bound = weight.originalName.endsWith('kernel') ? 1 / Math.sqrt(fanIn) : 1;
    const values = isVariance
      ? seeded(variable.size, seed + i * 101, 0.2, 2)
      : seeded(variable.size, seed + i * 101, -bound, bound);
    const tensor = tf.tensor(values, variable.shape);
    variable.assign(tensor);
    tensor.dispose();
  });
}

function sequential(inputShape: number[], layers: tf.layers.Layer[]): tf.Sequential {
  const model = tf.sequential();
  layers.forEach((layer) => model.add(layer));
  model.build([null, ...inputShape]);
  return model;
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'same number of values');
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    assert.ok(Number.isFinite(d), `value ${i}: ${a[i]} vs ${b[i]}`);
    worst = Math.max(worst, d);
  }
  return worst;
}

/** tfjs's predict and the converted model on onnxruntime-node, on the same seeded batch. */
async function compare(model: tf.LayersModel, inputRange: [number, number]): Promise<number> {
  const rows = 6;
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  const x = seeded(rows * shape.reduce((a, b) => a * b, 1), 7, ...inputRange);
  const expected = tf.tidy(() =>
    (model.predict(tf.tensor(x, [rows, ...shape])) as tf.Tensor).dataSync(),
  );
  const conversion = layersModelToOnnx(model);
  const session = await ort.InferenceSession.create(conversion.bytes);
  try {
    const result = await session.run({
      [conversion.inputName]: new ort.Tensor('float32', x, [rows, ...shape]),
    });
    const got = result[conversion.logitsName]!;
    assert.deepEqual(
      got.dims,
      (model.outputs[0]!.shape as number[]).map((d) => d ?? rows),
    );
    return maxAbsDifference(expected, got.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** A name, the model, and the range of its inputs. */
type Case = [string, () => tf.LayersModel, [number, number]?];

const cases: Case[] = [
  ...(
    [
      'linear',
      'relu',
      'relu6',
      'elu',
      'selu',
      'tanh',
      'sigmoid',
      'hardSigmoid',
      'softplus',
      'softsign',
      'softmax',
      'swish',
    ] as const
  ).map((activation): [string, () => tf.LayersModel] => [
    `Dense, activation ${activation}`,
    // Weights in [-1, 1) and 12 inputs: pre-activations of several units, both signs, past relu6's 6.
    () => sequential([12], [tf.layers.dense({ inputShape: [12], units: 7, activation })]),
  ]),
  [
    'Dense without bias',
    () => sequential([5], [tf.layers.dense({ inputShape: [5], units: 4, useBias: false })]),
  ],
  [
    'Dense on a rank-2 input (last axis), then Flatten',
    () =>
      sequential(
        [3, 4],
        [
          tf.layers.dense({ inputShape: [3, 4], units: 5, activation: 'relu' }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3 }),
        ],
      ),
  ],
  [
    'Conv2D valid, 3 input channels, then Flatten (channels-last order)',
    () =>
      sequential(
        [7, 9, 3],
        [
          tf.layers.conv2d({
            inputShape: [7, 9, 3],
            filters: 4,
            kernelSize: 3,
            activation: 'relu',
          }),
          tf.layers.flatten(),
        ],
      ),
  ],
  [
    'Conv2D same padding, stride 2 (one row and column of padding, TensorFlow puts it at the end)',
    () =>
      sequential(
        [8, 10, 2],
        [
          tf.layers.conv2d({
            inputShape: [8, 10, 2],
            filters: 3,
            kernelSize: 3,
            strides: 2,
            padding: 'same',
          }),
          tf.layers.flatten(),
        ],
      ),
  ],
  [
    'Conv2D dilated, no bias',
    () =>
      sequential(
        [10, 10, 1],
        [
          tf.layers.conv2d({
            inputShape: [10, 10, 1],
            filters: 2,
            kernelSize: 3,
            dilationRate: 2,
            useBias: false,
          }),
          tf.layers.flatten(),
        ],
      ),
  ],
  [
    'MaxPooling2D valid and same (odd sizes, strides)',
    () =>
      sequential(
        [9, 7, 2],
        [
          tf.layers.maxPooling2d({ inputShape: [9, 7, 2], poolSize: 2 }),
          // On [4, 3]: one column of padding, at the end.
          tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }),
          tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }),
          tf.layers.flatten(),
        ],
      ),
  ],
  [
    'AveragePooling2D valid and same (padding not counted)',
    () =>
      sequential(
        [9, 7, 2],
        [
          tf.layers.averagePooling2d({ inputShape: [9, 7, 2], poolSize: [3, 2], strides: 2 }),
          tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
          tf.layers.flatten(),
        ],
      ),
  ],
  [
    'Dropout (identity at inference)',
    () =>
      sequential(
        [6],
        [
          tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu' }),
          tf.layers.dropout({ rate: 0.5 }),
          tf.layers.dense({ units: 3 }),
        ],
      ),
  ],
  [
    'BatchNormalization after Conv2D and after Dense',
    () =>
      sequential(
        [6, 6, 2],
        [
          tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3 }),
          tf.layers.batchNormalization({ epsilon: 0.01 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 4 }),
          tf.layers.batchNormalization({ center: false }),
        ],
      ),
  ],
  [
    'Activation layers, softmax over the channels of an image tensor',
    () =>
      sequential(
        [4, 4, 2],
        [
          tf.layers.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 1 }),
          tf.layers.activation({ activation: 'softmax' }),
          tf.layers.flatten(),
          tf.layers.activation({ activation: 'tanh' }),
        ],
      ),
  ],
  ['the default MLP teacher 784-1200-1200-10', () => buildModel(mlpSpec(784, [1200, 1200], 10), 1)],
  [
    'the default CNN teacher (conv 32, conv 64 same, pools, dense 128)',
    () => buildModel(defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10 }), 1),
  ],
];

for (const [name, make, inputRange] of cases) {
  test(`converted to ONNX, equal to tfjs: ${name}`, async () => {
    const model = make();
    randomizeWeights(model, name.length);
    const difference = await compare(model, inputRange ?? [0, 1]);
    assert.ok(difference <= TOLERANCE, `max |tfjs - onnxruntime| = ${difference}`);
    model.dispose();
  });
}

test('feature outputs of the converted model equal the tfjs teacher features of every layer', async () => {
  const model = buildModel(
    defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10, size: 4 }),
    2,
  );
  randomizeWeights(model, 5);
  const teacher = teacherFromLayersModel(model, {
    description: 'cnn',
    hash: 'h',
    outputs: 'logits',
  });
  const layers = teacher.featureLayers();
  // conv, pool, conv, pool, flatten, dense: every hidden layer, penultimate first.
  assert.equal(layers.length, 6);
  const conversion = layersModelToOnnx(model, { featureLayers: layers });
  assert.deepEqual([...conversion.featureOutputs.keys()], [...layers].reverse());
  const x = seeded(3 * 784, 11);
  const session = await ort.InferenceSession.create(conversion.bytes);
  const result = await session.run({
    [conversion.inputName]: new ort.Tensor('float32', x, [3, 28, 28, 1]),
  });
  for (const layer of layers) {
    const expected = await teacher.features!(x, 3, layer);
    const got = result[conversion.featureOutputs.get(layer)!]!.data as Float32Array;
    const d = maxAbsDifference(expected.data, got);
    assert.ok(d <= TOLERANCE, `${layer}: max difference ${d}`);
  }
  await session.release();
  assert.throws(() => layersModelToOnnx(model, { featureLayers: ['nope'] }), /has no layer 'nope'/);
  teacher.dispose();
});

test('an unsupported layer or activation is named, and auto keeps the teacher on tfjs with the reason logged', async () => {
  const upsampling = sequential(
    [4, 4, 1],
    [
      tf.layers.upSampling2d({ inputShape: [4, 4, 1], size: [2, 2] }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ],
  );
  const layer = upsampling.layers[0]!.name;
  assert.throws(
    () => layersModelToOnnx(upsampling),
    (error: unknown) =>
      error instanceof UnsupportedLayerError &&
      error.layer === layer &&
      error.message ===
        `layer '${layer}' (UpSampling2D) cannot be converted to ONNX: no ONNX conversion for this layer type`,
  );
  const mish = sequential(
    [3],
    [tf.layers.dense({ inputShape: [3], units: 2, activation: 'mish' })],
  );
  assert.throws(
    () => layersModelToOnnx(mish),
    /\(Dense\) cannot be converted to ONNX: activation 'mish' is not supported/,
  );
  mish.dispose();

  const lines: string[] = [];
  const before = tf.memory().numTensors;
  const teacher = await layersTeacherOnRuntime(
    upsampling,
    teacherFromLayersModel(upsampling, { description: 'upsampler', hash: 'h', outputs: 'logits' }),
    'logits',
    { log: (line) => lines.push(line) },
  );
  assert.equal(teacher.runtime, 'tfjs');
  assert.equal(teacher.backendName, 'tfjs:cpu');
  assert.deepEqual(lines, [
    `teacher runtime: tfjs cpu (ONNX Runtime not used: layer '${layer}' (UpSampling2D) cannot be converted to ONNX: no ONNX conversion for this layer type)`,
  ]);
  const x = seeded(2 * 16, 3);
  assert.deepEqual(await teacher.logits(x, 2), teacher.predictLogits(x, 2));
  assert.equal(tf.memory().numTensors, before, 'no tensors leak on the fallback path');

  // Forced: the same reason, as an error.
  const forced = sequential(
    [4, 4, 1],
    [
      tf.layers.upSampling2d({ inputShape: [4, 4, 1] }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ],
  );
  await assert.rejects(
    layersTeacherOnRuntime(
      forced,
      teacherFromLayersModel(forced, {
        description: 'forced upsampler',
        hash: 'h',
        outputs: 'logits',
      }),
      'logits',
      { runtime: 'onnx' },
    ),
    {
      message:
        /^--teacher-runtime onnx: forced upsampler: layer '.*' \(UpSampling2D\) cannot be converted to ONNX/,
    },
  );
  teacher.dispose();
});

test('a probe batch the runtimes disagree on keeps tfjs (auto) or fails (onnx)', async () => {
  const make = (): tf.LayersModel => buildModel(mlpSpec(4, [5], 3), 1);
  // NaN inputs: no output can match, so the converted model is not trusted.
  const probe = Float32Array.from([NaN, 1, 2, 3]);
  const lines: string[] = [];
  const model = make();
  const teacher = await layersTeacherOnRuntime(
    model,
    teacherFromLayersModel(model, { description: 'mlp', hash: 'h', outputs: 'logits' }),
    'logits',
    { probe, log: (line) => lines.push(line) },
  );
  assert.equal(teacher.runtime, 'tfjs');
  assert.match(
    lines[0]!,
    /^teacher runtime: tfjs cpu \(ONNX Runtime not used: the converted model's outputs differ from tfjs's by up to Infinity on a 1-row probe batch \(tolerance 0\.0001\)\)$/,
  );
  teacher.dispose();
  const other = make();
  await assert.rejects(
    layersTeacherOnRuntime(
      other,
      teacherFromLayersModel(other, { description: 'mlp', hash: 'h', outputs: 'logits' }),
      'logits',
      { probe, runtime: 'onnx' },
    ),
    /^Error: --teacher-runtime onnx: mlp: the converted model's outputs differ/,
  );
});

test('the default teacher runs on onnxruntime by default, from its cache too: logits and features equal tfjs, no tensors leak; wasm forces tfjs', async () => {
  const digits = loadMnist({ count: 96 });
  const spec = defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10, size: 4 });
  const options = { spec, data: digits, dataDir: dir, epochs: 1, batchSize: 32, seed: 4 };
  const before = tf.memory().numTensors;
  const wasmLines: string[] = [];
  const wasm = await loadOrTrainDefaultTeacher({
    ...options,
    runtime: 'wasm',
    log: (line) => wasmLines.push(line),
  });
  assert.equal(wasm.fromCache, false);
  assert.equal(wasm.runtime, 'tfjs');
  assert.equal(wasm.backendName, 'tfjs:cpu');
  assert.ok(
    wasmLines.includes('teacher runtime: tfjs cpu (--teacher-runtime wasm)'),
    wasmLines.join('\n'),
  );
  // The same teacher from its cache (a loaded model: its variables are renamed), by default.
  const lines: string[] = [];
  const teacher = await loadOrTrainDefaultTeacher({ ...options, log: (line) => lines.push(line) });
  assert.equal(teacher.fromCache, true);
  assert.equal(teacher.backendName, 'onnxruntime:cpu', lines.join('\n'));
  assert.equal(teacher.runtime, 'onnxruntime:cpu');
  assert.ok(
    lines.some((l) =>
      /^teacher runtime: onnxruntime cpu \(converted from tfjs to \d+ ONNX nodes; outputs within .* of tfjs cpu on a 32-row probe batch\)$/.test(
        l,
      ),
    ),
    lines.join('\n'),
  );
  assert.equal(wasm.hash, teacher.hash, 'soft labels are cached under the same teacher hash');

  const withModels = tf.memory().numTensors;
  // 300 rows: more than one 256-row batch.
  const x = loadMnist({ count: 300 }).x;
  const logits = await teacher.logits(x, 300);
  assert.equal(logits.length, 3000);
  const reference = await wasm.logits(x, 300);
  const logitDifference = maxAbsDifference(logits, reference);
  assert.ok(logitDifference <= TOLERANCE, `logits differ by ${logitDifference}`);
  assert.deepEqual(teacher.featureLayers(), wasm.featureLayers());
  for (const layer of teacher.featureLayers()) {
    const onOnnx = await teacher.features!(x, 300, layer);
    const onTfjs = await wasm.features!(x, 300, layer);
    assert.equal(onOnnx.layer, layer);
    assert.equal(onOnnx.width, onTfjs.width);
    const d = maxAbsDifference(onOnnx.data, onTfjs.data);
    assert.ok(d <= TOLERANCE, `features of ${layer} differ by ${d}`);
  }
  assert.ok(
    !lines.some((l) => l.includes('stay on tfjs')),
    `every feature layer ran on onnxruntime: ${lines.join('\n')}`,
  );
  assert.equal(tf.memory().numTensors, withModels, 'logits and features leak no tensors');
  teacher.dispose();
  wasm.dispose();
  assert.equal(tf.memory().numTensors, before, 'disposing frees the models');
});

test('loadTeacherFile: a layers model.json gets the runtime choice; wasm is refused for an .onnx file; the runtime name is validated', async () => {
  const model = buildModel(mlpSpec(6, [5], 3), 2);
  const modelDir = join(dir, 'saved');
  await saveModelAtomic(model, modelDir);
  const x = seeded(12, 9);
  const expected = tf.tidy(() => (model.predict(tf.tensor(x, [2, 6])) as tf.Tensor).dataSync());
  model.dispose();
  const lines: string[] = [];
  const teacher = await loadTeacherFile(join(modelDir, 'model.json'), {
    outputs: 'logits',
    log: (line) => lines.push(line),
  });
  assert.equal(teacher.backendName, 'onnxruntime:cpu', lines.join('\n'));
  assert.ok(maxAbsDifference(await teacher.logits(x, 2), expected) <= TOLERANCE);
  teacher.dispose();
  const onTfjs = await loadTeacherFile(join(modelDir, 'model.json'), { runtime: 'wasm' });
  assert.equal(onTfjs.backendName, 'tfjs:cpu');
  onTfjs.dispose();
  await assert.rejects(loadTeacherFile(join(dir, 'any.onnx'), { runtime: 'wasm' }), {
    message: `--teacher-runtime wasm applies to tfjs teachers; ${join(dir, 'any.onnx')} is an ONNX model, which only ONNX Runtime runs`,
  });
  assert.equal(parseTeacherRuntime('onnx'), 'onnx');
  assert.throws(() => parseTeacherRuntime('gpu'), {
    message: "teacher runtime must be one of auto, onnx, wasm, got 'gpu'",
  });
});
