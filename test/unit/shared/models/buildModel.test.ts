import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ModelSpecError } from '../../../../shared/errors.js';
import {
  buildModel,
  cnnSpec,
  countParameters,
  getFlatWeights,
  inferShapes,
  mlpSpec,
  setFlatWeights,
  weightSegments,
} from '../../../../shared/models/index.js';

await tf.setBackend('cpu');

test('buildModel: same seed gives the same weights, another seed different ones', () => {
  const spec = cnnSpec({ filters: [4], hidden: [8] });
  const a = buildModel(spec, 42);
  const b = buildModel(spec, 42);
  const c = buildModel(spec, 43);
  const wa = getFlatWeights(a);
  assert.deepEqual(wa, getFlatWeights(b));
  assert.notDeepEqual(wa, getFlatWeights(c));
  // Layers of one model get distinct seeds (two equal-shaped dense kernels differ).
  const mlp = buildModel(mlpSpec(5, [5, 5], 5), 1);
  const [k1, , k2] = mlp.getWeights();
  assert.notDeepEqual(k1?.dataSync(), k2?.dataSync());
  for (const m of [a, b, c, mlp]) m.dispose();
});

test('buildModel outputs logits of the right shape; parameters match the spec walk', () => {
  const spec = cnnSpec();
  const model = buildModel(spec, 7);
  assert.equal(countParameters(model), inferShapes(spec).parameters);
  assert.deepEqual(weightSegments(model), [72, 8, 1152, 16, 25600, 64, 640, 10]);
  const out = tf.tidy(() => model.predict(tf.ones([2, 28, 28, 1])) as tf.Tensor);
  assert.deepEqual(out.shape, [2, 10]);
  // Logits, not probabilities: rows do not sum to 1.
  const rowSums = out.sum(1);
  const rowSum = rowSums.dataSync()[0] ?? 0;
  rowSums.dispose();
  assert.ok(Math.abs(rowSum - 1) > 1e-3);
  out.dispose();
  model.dispose();
});

test('a dense layer after an image input gets an implicit flatten', () => {
  const model = buildModel({ inputShape: [2, 2, 1], layers: [], numClasses: 3 }, 1);
  assert.deepEqual(
    model.layers.map((l) => l.getClassName()),
    ['Flatten', 'Dense'],
  );
  model.dispose();
});

test('setFlatWeights round-trips, copies its input and rejects bad vectors', () => {
  const model = buildModel(mlpSpec(3, [2], 2), 5);
  // 3·2+2 + 2·2+2 = 14 weights
  const flat = Float32Array.from({ length: 14 }, (_, i) => i / 10);
  const before = tf.memory().numTensors;
  setFlatWeights(model, flat);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(getFlatWeights(model), flat);
  flat[0] = 99; // the model must not see later writes to the caller's array
  assert.equal(getFlatWeights(model)[0], 0);
  // kernel [[0, .1], [.2, .3], [.4, .5]], bias [.6, .7]; x = [1, 0, 0] → hidden relu([.6, .8])
  // logits = [.6·.8 + .8·1.0 + 1.2, .6·.9 + .8·1.1 + 1.3] = [2.48, 2.72]
  const yT = tf.tidy(() => model.predict(tf.tensor2d([[1, 0, 0]])) as tf.Tensor);
  const y = yT.dataSync();
  yT.dispose();
  assert.ok(Math.abs((y[0] ?? 0) - 2.48) < 1e-5 && Math.abs((y[1] ?? 0) - 2.72) < 1e-5);
  assert.throws(() => setFlatWeights(model, new Float32Array(13)), ModelSpecError);
  const nan = new Float32Array(14);
  nan[3] = Number.NaN;
  assert.throws(() => setFlatWeights(model, nan), /non-finite/);
  assert.equal(getFlatWeights(model)[3], Math.fround(0.3)); // unchanged after the refused write
  model.dispose();
});

test('built models save to and load from the standard layers format', async () => {
  const spec = cnnSpec({ filters: [2], hidden: [4], dropout: 0.5 });
  const model = buildModel(spec, 3);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  assert.ok(artifacts);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  assert.deepEqual(getFlatWeights(loaded), getFlatWeights(model));
  model.dispose();
  loaded.dispose();
});
