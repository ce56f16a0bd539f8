import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ModelSpecError } from '../../../../shared/errors.js';
import { buildModel, cnnSpec, createFastForward } from '../../../../shared/models/index.js';

await tf.setBackend('cpu');

test("featureLayer returns a hidden layer's output, flattened or averaged over height and width", () => {
  const spec = cnnSpec({ inputShape: [6, 6, 2], filters: [3], hidden: [5], numClasses: 2 });
  const model = buildModel(spec, 4);
  // Layers: conv 0 (4×4×3), max pool 1 (2×2×3), flatten 2, dense 3, logits 4.
  const truncated = tf.model({
    inputs: model.inputs,
    outputs: model.layers[1]!.output as tf.SymbolicTensor,
  });
  const x = tf.randomUniform([3, 6, 6, 2], -1, 1, 'float32', 9);
  const reference = truncated.predict(x) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  for (const pooling of ['flatten', 'average'] as const) {
    const forward = createFastForward(model, spec, { featureLayer: 1, featurePooling: pooling });
    const [got, want, logits, expectedLogits] = tf.tidy(() => {
      const out = forward(x, false);
      const expected =
        pooling === 'flatten' ? reference.reshape([3, 12]) : tf.mean(reference, [1, 2]);
      return [out.layerFeatures!, expected, out.logits, model.predict(x) as tf.Tensor];
    });
    assert.deepEqual(got.shape, pooling === 'flatten' ? [3, 12] : [3, 3]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]!);
    assert.ok(diff < 1e-5, `${pooling}: max difference ${diff}`);
    const logitDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(logits, expectedLogits))).dataSync()[0]!);
    assert.ok(logitDiff < 1e-5, 'the logits are unchanged by the tap');
    tf.dispose([got, want, logits, expectedLogits]);
  }
  assert.equal(tf.memory().numTensors, before);
  // Without a featureLayer there is no layerFeatures; the logits layer or a missing index is refused.
  const plain = createFastForward(model, spec);
  const out = tf.tidy(() => plain(x, false).layerFeatures);
  assert.equal(out, undefined);
  assert.throws(() => createFastForward(model, spec, { featureLayer: 4 }), ModelSpecError);
  assert.throws(
    () => createFastForward(model, spec, { featureLayer: 7 }),
    /featureLayer 7 is not a hidden layer/,
  );
  tf.dispose([x, reference]);
  model.dispose();
});
