import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { DistillationInputError } from '../../../../shared/errors.js';
import {
  buildModel,
  cnnSpec,
  createFastForward,
  mlpSpec,
} from '../../../../shared/models/index.js';
import { PENULTIMATE_LAYER, predictFeatures } from '../../../../shared/training/index.js';
import { seededValues } from './synthetic.js';

await tf.setBackend('cpu');

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

test('predictFeatures: penultimate by default, a named layer, pooled conv features; no leaks', () => {
  const spec = mlpSpec(6, [9, 5], 3);
  const model = buildModel(spec, 2);
  const x = seededValues(7 * 6, 3);
  const forward = createFastForward(model, spec);
  const expected = tf.tidy(() => forward(tf.tensor2d(x, [7, 6]), false).features);
  const want = expected.dataSync() as Float32Array;
  expected.dispose();
  const before = tf.memory().numTensors;
  // Batches of 3 over 7 rows: the last batch is partial.
  const penultimate = predictFeatures(model, x, 7, { batchSize: 3 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(penultimate.width, 5);
  assert.equal(penultimate.layer, PENULTIMATE_LAYER);
  assert.ok(maxDiff(penultimate.values, want) < 1e-5);
  const named = predictFeatures(model, x, 7, { layer: model.layers[1]!.name });
  assert.equal(named.layer, model.layers[1]!.name);
  assert.ok(maxDiff(named.values, want) < 1e-5, 'layer 1 is the penultimate dense layer');
  assert.equal(predictFeatures(model, x, 7, { layer: model.layers[0]!.name }).width, 9);

  assert.throws(
    () => predictFeatures(model, x, 7, { layer: 'no_such_layer' }),
    (error: unknown) =>
      error instanceof DistillationInputError &&
      /featureLayer "no_such_layer" does not exist in the teacher; its layers: /.test(
        error.message,
      ),
  );
  model.dispose();

  const cnn = cnnSpec({ inputShape: [6, 6, 1], filters: [3], hidden: [4], numClasses: 2 });
  const teacher = buildModel(cnn, 5);
  const images = seededValues(4 * 36, 6);
  const pool = teacher.layers[1]!.name;
  const flat = predictFeatures(teacher, images, 4, { layer: pool });
  const averaged = predictFeatures(teacher, images, 4, { layer: pool, pooling: 'average' });
  assert.equal(flat.width, 12); // 2×2×3
  assert.equal(averaged.width, 3);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 3; c++) {
      let mean = 0;
      for (let p = 0; p < 4; p++) mean += flat.values[r * 12 + p * 3 + c]! / 4;
      assert.ok(Math.abs(mean - averaged.values[r * 3 + c]!) < 1e-6);
    }
  }
  teacher.dispose();
});
