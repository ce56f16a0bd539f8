/**
 * tfjs teachers behind the Teacher interface: feature layers with
 * hand-computed activations, the CNN default teacher (spec, training
 * options, progress lines for non-terminal logs, cache), and refusals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildModel, inferShapes, mlpSpec, setFlatWeights } from '../../../shared/models/index.js';
import { subset } from '../../../shared/data/index.js';
import { loadMnist } from '../../../node/data/index.js';
import { saveModelAtomic } from '../../../node/modelFiles.js';
import {
  defaultTeacherSpec,
  imageShapeOf,
  loadOrTrainDefaultTeacher,
} from '../../../server/defaultTeacher.js';
import { loadTeacherFile, teacherFromLayersModel } from '../../../server/teachers/index.js';

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'fedistill-tfjs-teacher-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('features of a layers teacher: the penultimate layer by default, equal to relu(x·W1 + b1) by hand', async () => {
  // 2 inputs → 3 ReLU units → 2 logits. W1 = [[1, -1, 0.5], [2, 0, -1]], b1 = [0, 1, -0.5];
  // W2 = [[1, 0], [0, 1], [1, 1]], b2 = [0.25, -0.25].
  const model = buildModel(mlpSpec(2, [3], 2), 1);
  setFlatWeights(
    model,
    Float32Array.from([1, -1, 0.5, 2, 0, -1, 0, 1, -0.5, 1, 0, 0, 1, 1, 1, 0.25, -0.25]),
  );
  const teacher = teacherFromLayersModel(model, {
    description: 'hand teacher',
    hash: 'h',
    outputs: 'logits',
  });
  const hidden = model.layers[0]!.name;
  assert.deepEqual(teacher.featureLayers(), [hidden]);
  assert.equal(teacher.numClasses, 2);
  const x = Float32Array.from([1, 1, -1, 0.5]);
  const before = tf.memory().numTensors;
  const features = await teacher.features!(x, 2);
  // row 1: [1+2, -1+0+1, 0.5-1-0.5] = [3, 0, -1] → relu [3, 0, 0]
  // row 2: [-1+1, 1+0+1, -0.5-0.5-0.5] = [0, 2, -1.5] → relu [0, 2, 0]
  assert.equal(features.layer, hidden);
  assert.equal(features.width, 3);
  assert.deepEqual(Array.from(features.data), [3, 0, 0, 0, 2, 0]);
  // logits = h·W2 + b2: row 1 [3.25, -0.25], row 2 [0.25, 1.75]
  assert.deepEqual(Array.from(await teacher.logits(x, 2)), [3.25, -0.25, 0.25, 1.75]);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak from logits or features');
  await assert.rejects(teacher.features!(x, 2, 'conv9'), {
    message: `hand teacher has no feature layer 'conv9'; available: ${hidden}`,
  });
  teacher.dispose();
});

test('a tfjs teacher file checks --teacher-feature-layer at load, listing its layers', async () => {
  const model = buildModel(mlpSpec(4, [5, 3], 2), 2);
  await saveModelAtomic(model, join(dir, 'mlp'));
  const path = join(dir, 'mlp', 'model.json');
  const names = model.layers.slice(0, 2).map((l) => l.name);
  model.dispose();
  const teacher = await loadTeacherFile(path, { featureLayer: names[0]! });
  // The penultimate layer first, then the earlier one.
  assert.deepEqual(teacher.featureLayers(), [names[1], names[0]]);
  assert.equal((await teacher.features!(new Float32Array(8), 2, names[0])).width, 5);
  teacher.dispose();
  await assert.rejects(loadTeacherFile(path, { featureLayer: 'nope' }), {
    message: `layers model ${path} has no feature layer 'nope'; available: ${names[1]}, ${names[0]}`,
  });
});

test('the CNN default teacher spec: image shape from the data, size and class count as asked', () => {
  const spec = defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10 });
  assert.deepEqual(spec.inputShape, [28, 28, 1]);
  // conv 32 (3·3·1·32+32 = 320), pool → 14, conv 64 (3·3·32·64+64 = 18,496), pool → 7,
  // dense 128 (7·7·64·128+128 = 401,536), logits (128·10+10 = 1,290): 421,642 parameters.
  assert.equal(inferShapes(spec).parameters, 421_642);
  const small = defaultTeacherSpec({
    kind: 'cnn',
    inputShape: [32, 32, 3],
    numClasses: 5,
    size: 4,
  });
  assert.deepEqual(small.inputShape, [32, 32, 3]);
  assert.deepEqual(
    small.layers.filter((l) => l.type === 'conv2d').map((l) => (l as { filters: number }).filters),
    [4, 8],
  );
  assert.equal(small.numClasses, 5);
  assert.deepEqual(
    defaultTeacherSpec({ kind: 'mlp', inputShape: [784], numClasses: 10 }),
    mlpSpec(784, [1200, 1200], 10),
  );
  assert.throws(
    () => imageShapeOf([10]),
    /a CNN teacher needs image data .* got inputs of shape \[10\]/,
  );
  assert.throws(
    () => defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10, size: 0 }),
    /teacher size must be a positive integer, got 0/,
  );
});

test('the CNN default teacher trains with the given options, logs progress per epoch, and is reused from its cache', async () => {
  const digits = loadMnist({ count: 900 });
  const train = subset(
    digits,
    Array.from({ length: 600 }, (_, i) => i),
  );
  const held = subset(
    digits,
    Array.from({ length: 300 }, (_, i) => 600 + i),
  );
  const spec = defaultTeacherSpec({ kind: 'cnn', inputShape: [784], numClasses: 10, size: 4 });
  const lines: string[] = [];
  const options = {
    spec,
    data: train,
    dataDir: dir,
    epochs: 2,
    batchSize: 32,
    learningRate: 0.005,
    seed: 3,
    log: (line: string) => lines.push(line),
  };
  const teacher = await loadOrTrainDefaultTeacher(options);
  assert.equal(teacher.fromCache, false);
  assert.ok(
    teacher.trainSeconds !== null && teacher.trainSeconds > 0,
    `training time ${teacher.trainSeconds}`,
  );
  assert.deepEqual([...teacher.inputShape], [28, 28, 1]);
  // Its soft labels and features run on the converted model (test/unit/server/layersToOnnx.test.ts).
  assert.equal(teacher.backendName, 'onnxruntime:cpu');
  const epochLines = lines.filter((l) =>
    /^teacher training: epoch \d\/2 done, mean loss [\d.]+, \d+ s elapsed$/.test(l),
  );
  assert.equal(epochLines.length, 2, lines.join('\n'));
  const logits = teacher.predictLogits(held.x, held.count);
  let right = 0;
  for (let r = 0; r < held.count; r++) {
    const row = Array.from(logits.subarray(r * 10, r * 10 + 10));
    if (row.indexOf(Math.max(...row)) === held.y[r]) right += 1;
  }
  assert.ok(
    right / held.count > 0.4,
    `held-out accuracy ${right / held.count} after 2 epochs on 600 digits`,
  );
  // The penultimate features: the dense layer of 4·size = 16 units.
  const features = await teacher.features!(held.x, 5);
  assert.equal(features.width, 16);

  const again = await loadOrTrainDefaultTeacher({ ...options, log: () => undefined });
  assert.equal(again.fromCache, true);
  assert.equal(again.trainSeconds, teacher.trainSeconds, 'the cache keeps the training time');
  assert.equal(again.hash, teacher.hash);
  assert.deepEqual(again.predictLogits(held.x, 3), teacher.predictLogits(held.x, 3));
  // Another learning rate is another teacher (a 64-digit slice keeps this retraining short).
  const slice = subset(
    train,
    Array.from({ length: 64 }, (_, i) => i),
  );
  const first = await loadOrTrainDefaultTeacher({
    ...options,
    data: slice,
    epochs: 1,
    log: () => undefined,
  });
  const other = await loadOrTrainDefaultTeacher({
    ...options,
    data: slice,
    epochs: 1,
    learningRate: 0.001,
    log: () => undefined,
  });
  assert.equal(first.fromCache, false);
  assert.equal(other.fromCache, false);
  assert.notEqual(other.hash, first.hash);
  first.dispose();
  for (const t of [teacher, again, other]) t.dispose();
});
