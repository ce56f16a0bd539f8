import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { DatasetError, DistillationInputError } from '../../../../shared/errors.js';
import { buildModel, mlpSpec, setFlatWeights } from '../../../../shared/models/index.js';
import { evaluate, predictProbs } from '../../../../shared/training/index.js';

/** A linear 2-class model whose logits equal its 2 inputs (kernel I, bias 0). */
function identityModel(): tf.LayersModel {
  const model = buildModel(mlpSpec(2, [], 2), 1);
  setFlatWeights(model, new Float32Array([1, 0, 0, 1, 0, 0]));
  return model;
}

for (const backend of ['cpu', 'wasm']) {
  test(`evaluate (${backend}): accuracy, mean cross-entropy and predictions, in batches, without leaks`, async () => {
    await tf.setBackend(backend);
    const model = identityModel();
    const data = {
      x: new Float32Array([1, 0, 0, 2, 3, 1]),
      y: new Uint8Array([0, 1, 1]),
      count: 3,
    };
    const before = tf.memory().numTensors;
    const r = evaluate(model, data, 2);
    assert.equal(tf.memory().numTensors, before);
    // logits = inputs: [1,0]→0 ✓, [0,2]→1 ✓, [3,1]→0 ✗ (label 1)
    assert.deepEqual(r.predictions, new Int32Array([0, 1, 0]));
    assert.equal(r.accuracy, 2 / 3);
    // CE: log(1+e^-1)=0.313262, log(1+e^-2)=0.126928, log(1+e^2)=2.126928; mean 0.855706
    assert.ok(Math.abs(r.loss - 0.855706) < 1e-5, `loss ${r.loss}`);
    const empty = evaluate(model, { x: new Float32Array(0), y: new Uint8Array(0), count: 0 });
    assert.ok(Number.isNaN(empty.accuracy) && empty.predictions.length === 0);
    assert.throws(() => evaluate(model, { ...data, count: 2 }), DatasetError);
    assert.throws(() => evaluate(model, data, 0), DistillationInputError);
    model.dispose();
  });

  test(`predictProbs (${backend}): softmax(logits / T) row-major, batched, without leaks`, async () => {
    await tf.setBackend(backend);
    const model = identityModel();
    const x = new Float32Array([1, 0, 0, 2, 3, 1]);
    const before = tf.memory().numTensors;
    const p = predictProbs(model, x, 3, 2, 2);
    assert.equal(tf.memory().numTensors, before);
    // T=2: softmax([0.5, 0]) = [1/(1+e^-0.5), ...] = [0.622459, 0.377541];
    // softmax([0, 1]) = [0.268941, 0.731059]; softmax([1.5, 0.5]) = [0.731059, 0.268941]
    const expected = [0.622459, 0.377541, 0.268941, 0.731059, 0.731059, 0.268941];
    assert.equal(p.length, 6);
    expected.forEach((e, i) => assert.ok(Math.abs((p[i] ?? 0) - e) < 1e-5, `p[${i}] = ${p[i]}`));
    assert.throws(() => predictProbs(model, x, 3, 0), /temperature/);
    assert.throws(() => predictProbs(model, x, 4, 1), DatasetError);
    assert.equal(predictProbs(model, new Float32Array(0), 0, 1).length, 0);
    model.dispose();
  });
}
