import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  composeDistillation,
  composedLoss,
  createHintRegressor,
} from '../../../../shared/losses/index.js';
import type { DistillationTerm } from '../../../../shared/losses/index.js';
import {
  buildModel,
  createFastForward,
  trainableVariables,
} from '../../../../shared/models/index.js';
import type { ModelSpec } from '../../../../shared/models/index.js';
import { seededValues } from './synthetic.js';

await tf.setBackend('cpu');

// tanh keeps the loss smooth in the weights, so central differences are meaningful.
const spec: ModelSpec = {
  inputShape: [3],
  layers: [{ type: 'dense', units: 4, activation: 'tanh' }],
  numClasses: 3,
};
const terms: DistillationTerm[] = [
  { name: 'response', weight: 1, alpha: 0.4 },
  { name: 'hint', weight: 0.8 },
  { name: 'rkd-distance', weight: 0.6 },
  { name: 'rkd-angle', weight: 0.5 },
  { name: 'pkt', weight: 2 },
  { name: 'self', weight: 0.7 },
];

function setTo(variable: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, variable.shape);
  variable.assign(t);
  t.dispose();
}

test('the composed loss gradient w.r.t. the student weights and the regressor matches finite differences', () => {
  const model = buildModel(spec, 3);
  const forward = createFastForward(model, spec);
  const regressor = createHintRegressor(4, 2, 5);
  const composed = composeDistillation(
    terms,
    { alpha: 0.5, temperature: 2, proxyWeight: 1 },
    { teacherProbs: true, teacherFeatures: true },
  );
  const x = tf.tensor2d(seededValues(12, 1, 1.5), [4, 3]);
  const labels = tf.tensor1d([0, 2, 1, 2], 'int32');
  const px = tf.tensor2d(seededValues(15, 2, 1.5), [5, 3]);
  const teacherProbs = tf.tidy(() => tf.softmax(tf.tensor2d(seededValues(15, 3, 2), [5, 3])));
  const teacherFeatures = tf.tensor2d(seededValues(10, 4), [5, 2]);
  const snapshotLogits = tf.tensor2d(seededValues(12, 5, 2), [4, 3]);
  const loss = (): tf.Scalar =>
    tf.tidy(() => {
      const out = forward(px, false);
      return composedLoss(composed, {
        temperature: 2,
        studentLogits: forward(x, false).logits,
        labels,
        snapshotLogits,
        regressor,
        proxy: {
          studentLogits: out.logits,
          studentFeatures: out.features,
          teacherProbs,
          teacherFeatures,
        },
      }).loss;
    });

  const variables = [...trainableVariables(model), regressor.kernel, regressor.bias];
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(loss, variables);
  const analytic = variables.map((v) => Float32Array.from(grads[v.name]!.dataSync()));
  value.dispose();
  tf.dispose(Object.values(grads));
  assert.equal(tf.memory().numTensors, before, 'the gradient leaked tensors');

  const h = 1e-2;
  const at = (): number => {
    const t = loss();
    const v = t.dataSync()[0]!;
    t.dispose();
    return v;
  };
  let checked = 0;
  variables.forEach((variable, vi) => {
    const original = Float32Array.from(variable.dataSync());
    const grad = analytic[vi]!;
    const floor = Math.max(1e-2, 0.05 * Math.max(...Array.from(grad, Math.abs)));
    for (let i = 0; i < original.length; i++) {
      const shifted = Float32Array.from(original);
      shifted[i] = original[i]! + h;
      setTo(variable, shifted);
      const plus = at();
      shifted[i] = original[i]! - h;
      setTo(variable, shifted);
      const minus = at();
      setTo(variable, original);
      const numeric = (plus - minus) / (2 * h);
      const a = grad[i]!;
      assert.ok(Number.isFinite(a), `${variable.name}[${i}] gradient ${a}`);
      assert.ok(
        Math.abs(a - numeric) <= 0.03 * Math.max(floor, Math.abs(a), Math.abs(numeric)),
        `${variable.name}[${i}]: tf gradient ${a} vs finite difference ${numeric}`,
      );
      checked++;
    }
  });
  // 3·4 + 4 + 4·3 + 3 model weights and a 4·2 + 2 regressor.
  assert.equal(checked, 41);
  // The regressor's gradient is not zero: it trains with the student.
  assert.ok(analytic.slice(-2).some((g) => g.some((v) => Math.abs(v) > 1e-4)));
  tf.dispose([x, labels, px, teacherProbs, teacherFeatures, snapshotLogits]);
  regressor.dispose();
  model.dispose();
});
