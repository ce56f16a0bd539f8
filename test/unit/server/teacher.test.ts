/**
 * Teachers load from tfjs files on disk in both formats the converter writes,
 * and a teacher that ends in softmax is turned back into logits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel, mlpSpec } from '../../../shared/index.js';
import { saveModelAtomic } from '../../../node/modelFiles.js';
import { loadTfjsTeacher } from '../../../server/teachers/index.js';

before(async () => {
  await tf.setBackend('cpu');
});

function softmax(row: number[]): number[] {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/**
 * A graph model as tensorflowjs_converter writes one: logits = x·W + b, then
 * Softmax, with W = [[1, 0, -1], [2, 1, 0]] and b = [0, 0.5, 1].
 */
function writeGraphModel(dir: string): string {
  const dim = (sizes: number[]) => ({ dim: sizes.map((size) => ({ size: String(size) })) });
  const constant = (name: string, shape: number[]) => ({
    name,
    op: 'Const',
    attr: {
      dtype: { type: 'DT_FLOAT' },
      value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim(shape) } },
    },
  });
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'fedistill test',
    convertedBy: 'hand-written',
    modelTopology: {
      node: [
        {
          name: 'x',
          op: 'Placeholder',
          attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dim([-1, 2]) } },
        },
        constant('w', [2, 3]),
        constant('b', [3]),
        {
          name: 'mm',
          op: 'MatMul',
          input: ['x', 'w'],
          attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } },
        },
        { name: 'logits', op: 'BiasAdd', input: ['mm', 'b'], attr: { T: { type: 'DT_FLOAT' } } },
        { name: 'probs', op: 'Softmax', input: ['logits'], attr: { T: { type: 'DT_FLOAT' } } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: [
          { name: 'w', shape: [2, 3], dtype: 'float32' },
          { name: 'b', shape: [3], dtype: 'float32' },
        ],
      },
    ],
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(
    join(dir, 'weights.bin'),
    new Uint8Array(Float32Array.from([1, 0, -1, 2, 1, 0, 0, 0.5, 1]).buffer),
  );
  return join(dir, 'model.json');
}

test('a graph-model teacher ending in softmax gives logits up to a per-row constant', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-graph-'));
  try {
    const teacher = await loadTfjsTeacher(writeGraphModel(dir));
    assert.deepEqual(teacher.inputShape, [2]);
    assert.equal(teacher.numParams, 9);
    assert.match(teacher.hash, /^[0-9a-f]{64}$/);
    // x = [1, 1]: logits = [1+2, 0+1, -1+0] + b = [3, 1.5, 0]; x = [0, -1]: [-2, -1, 0] + b = [-2, -0.5, 1]
    const logits = teacher.predictLogits(Float32Array.from([1, 1, 0, -1]), 2);
    const expected = [softmax([3, 1.5, 0]), softmax([-2, -0.5, 1])];
    for (let r = 0; r < 2; r++) {
      const got = softmax([...logits.subarray(r * 3, r * 3 + 3)]);
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[c]! - expected[r]![c]!) < 1e-5);
    }
    teacher.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a layers-model teacher gives the model logits, batched over many rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-layers-'));
  try {
    const model = buildModel(mlpSpec(3, [4], 2), 3);
    await saveModelAtomic(model, join(dir, 'teacher'));
    const teacher = await loadTfjsTeacher(join(dir, 'teacher', 'model.json'), 'logits');
    assert.equal(teacher.numParams, 3 * 4 + 4 + 4 * 2 + 2);
    const count = 600; // more than one 256-row batch
    const x = Float32Array.from({ length: count * 3 }, (_, i) => Math.sin(i));
    const before = tf.memory().numTensors;
    const logits = teacher.predictLogits(x, count);
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
    const expected = tf.tidy(() =>
      (model.predict(tf.tensor2d(x, [count, 3])) as tf.Tensor).dataSync(),
    );
    assert.equal(logits.length, count * 2);
    for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logits[i]! - expected[i]!) < 1e-5);
    teacher.dispose();
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
