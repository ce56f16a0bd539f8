/**
 * The final student is exported at float32, float16 and uint8; every copy
 * loads with tf.loadLayersModel, its weight file is 1/2 or 1/4 the size, and
 * the accuracy the summary reports for it is what the loaded copy scores.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel, mlpSpec } from '../../../shared/models/index.js';
import { evaluate, trainLocal } from '../../../shared/training/index.js';
import { subset } from '../../../shared/data/index.js';
import { loadMnist } from '../../../node/data/index.js';
import { fileModelLoader } from '../../../node/modelFiles.js';
import { DirectoryCheckpoints, EXPORT_PRECISIONS } from '../../../server/checkpoints.js';
import { measureStudentExports } from '../../../server/studentExports.js';

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'fedistill-exports-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('exportFinal writes float32, float16 and uint8 students; the measured accuracy is the loaded copy’s', async () => {
  const digits = loadMnist({ count: 1500 });
  const train = subset(
    digits,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  const test_ = subset(
    digits,
    Array.from({ length: 500 }, (_, i) => 1000 + i),
  );
  const spec = mlpSpec(784, [32], 10);
  const model = buildModel(spec, 3);
  await trainLocal({
    model,
    spec,
    data: train,
    config: {
      epochs: 2,
      batchSize: 32,
      learningRate: 0.003,
      temperature: 1,
      alpha: 1,
      optimizer: 'adam',
    },
    seed: 1,
  });
  const checkpoints = new DirectoryCheckpoints(join(dir, 'run'));
  const path = await checkpoints.exportFinal(model);
  assert.equal(path, join(dir, 'run', 'student', 'model.json'));
  assert.deepEqual(EXPORT_PRECISIONS, ['float16', 'uint8']);
  const params = 784 * 32 + 32 + 32 * 10 + 10; // 25,450
  const sizes = { float32: params * 4, float16: params * 2, uint8: params };
  for (const precision of ['float32', 'float16', 'uint8'] as const) {
    const folder = checkpoints.exportDir(precision);
    assert.ok(existsSync(join(folder, 'model.json')), folder);
    assert.equal(statSync(join(folder, 'weights.bin')).size, sizes[precision], precision);
  }

  const numTensors = tf.memory().numTensors;
  const exports = await measureStudentExports(
    new Map((['float32', 'float16', 'uint8'] as const).map((p) => [p, checkpoints.exportDir(p)])),
    test_,
  );
  assert.equal(tf.memory().numTensors, numTensors, 'no tensors leak');
  assert.deepEqual(
    exports.map((e) => [e.precision, e.weightBytes]),
    [
      ['float32', sizes.float32],
      ['float16', sizes.float16],
      ['uint8', sizes.uint8],
    ],
  );
  const inMemory = evaluate(model, test_).accuracy;
  assert.ok(inMemory > 0.75, `a trained student (${inMemory})`);
  for (const e of exports) {
    // Recompute what the summary claims, from the files, with tf.loadLayersModel.
    const loaded = await tf.loadLayersModel(fileModelLoader(e.path));
    assert.equal(e.testAccuracy, evaluate(loaded, test_).accuracy, e.precision);
    loaded.dispose();
  }
  const [f32, f16, u8] = exports;
  assert.equal(f32!.testAccuracy, inMemory);
  assert.equal(f32!.agreementWithFloat32, 1);
  assert.equal(f32!.maxLogitDiff, 0);
  assert.ok(
    f16!.maxLogitDiff > 0 && f16!.maxLogitDiff < 0.05,
    `float16 logits ${f16!.maxLogitDiff}`,
  );
  assert.ok(u8!.maxLogitDiff > f16!.maxLogitDiff, 'uint8 is coarser than float16');
  assert.ok(f16!.agreementWithFloat32 >= 0.99, `float16 agreement ${f16!.agreementWithFloat32}`);
  assert.ok(u8!.agreementWithFloat32 >= 0.95, `uint8 agreement ${u8!.agreementWithFloat32}`);
  model.dispose();
});
