/**
 * A round's contributions: every update is checked whole before anything is
 * folded in, so a refused one leaves the round exactly as it was.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  buildModel,
  coordinateMedian,
  encodeSoftLabels,
  encodeWeights,
  getFlatWeights,
  mlpSpec,
  predictProbs,
} from '../../../shared/index.js';
import type { UpdateMessage } from '../../../shared/index.js';
import { ContributionError, RoundContributions } from '../../../server/roundContributions.js';
import { planFor } from '../../../server/strategy.js';

before(async () => {
  await tf.setBackend('cpu');
});

const metrics = { loss: 1, accuracy: 0.5, trainMillis: 1, steps: 1 };

function weightsUpdate(delta: number[], numSamples: number): UpdateMessage {
  return {
    roundId: 1,
    modelVersion: 0,
    numSamples,
    delta: encodeWeights(Float32Array.from(delta), 'float32'),
    metrics,
  };
}

test('fedkd: sample-weighted mean of deltas; refused updates change nothing', () => {
  const round = new RoundContributions({
    plan: planFor('fedkd'),
    global: new Float32Array(2),
    numClasses: 2,
  });
  round.add(weightsUpdate([1, 2], 3));
  const bad = [
    weightsUpdate([1, 2, 3], 1), // wrong length
    {
      ...weightsUpdate([0, 0], 1),
      delta: encodeWeights(Float32Array.from([0, 0]), 'float32'),
      predictions: {
        indices: new Int32Array(0),
        probs: encodeSoftLabels(new Float32Array(0), { numClasses: 2 }),
      },
    },
    { roundId: 1, modelVersion: 0, numSamples: 1, metrics }, // no delta
  ];
  for (const update of bad)
    assert.throws(() => round.add(update as UpdateMessage), ContributionError);
  const nan = weightsUpdate([0, 0], 1);
  (nan.delta!.data as Float32Array)[1] = Number.NaN;
  assert.throws(
    () => round.add(nan),
    (e: unknown) => e instanceof ContributionError && e.code === 'rejected-weights',
  );
  round.add(weightsUpdate([3, 6], 1));
  // (3·[1, 2] + 1·[3, 6]) / 4 = [1.5, 3]
  assert.deepEqual([...round.aggregateDelta()], [1.5, 3]);
  assert.equal(round.count, 2);
});

test('a robust aggregator sees every delta: the median ignores one huge outlier', () => {
  const round = new RoundContributions({
    plan: planFor('fedkd'),
    global: new Float32Array(1),
    numClasses: 2,
    aggregator: coordinateMedian(),
  });
  for (const v of [1, 2, 1000]) round.add(weightsUpdate([v], 1));
  assert.deepEqual([...round.aggregateDelta()], [2]);
});

test('fedmd: predictions must be for the requested samples; the consensus is their mean', () => {
  const indices = Int32Array.from([3, 7]);
  const round = new RoundContributions({
    plan: planFor('fedmd'),
    global: new Float32Array(0),
    numClasses: 2,
    predictIndices: indices,
  });
  const predictions = (probs: number[], at = indices) => ({
    roundId: 1,
    modelVersion: 0,
    numSamples: 5,
    predictions: {
      indices: at,
      probs: encodeSoftLabels(Float32Array.from(probs), { numClasses: 2, precision: 'float32' }),
    },
    metrics: { ...metrics, validationAccuracy: 0.8 },
  });
  round.add(predictions([1, 0, 0.5, 0.5]));
  assert.throws(
    () => round.add(predictions([1, 0, 1, 0], Int32Array.from([3, 8]))),
    /not for the proxy samples/,
  );
  assert.throws(() => round.add(weightsUpdate([1], 1)), /sent no weights/);
  round.add(predictions([0, 1, 0.5, 0.5]));
  assert.deepEqual([...round.meanPredictions()!], [0.5, 0.5, 0.5, 0.5]);
  assert.deepEqual(round.validationAccuracies, [0.8, 0.8]);
  assert.throws(() => round.aggregateDelta(), /no weights/);
});

test('feddf: each client student is run on the proxy set and the ensemble is their mean', () => {
  const spec = mlpSpec(3, [4], 2);
  const model = buildModel(spec, 1);
  const scratch = buildModel(spec, 2);
  const global = getFlatWeights(model);
  const proxyX = Float32Array.from([0.1, 0.2, 0.3, 1, 0, -1]);
  const round = new RoundContributions({
    plan: planFor('feddf'),
    global,
    numClasses: 2,
    ensemble: { model: scratch, proxyX, proxyCount: 2, temperature: 2 },
  });
  const zero = new Float32Array(global.length);
  const before = tf.memory().numTensors;
  round.add({
    roundId: 1,
    modelVersion: 0,
    numSamples: 1,
    delta: encodeWeights(zero, 'float32'),
    metrics,
  });
  round.add({
    roundId: 1,
    modelVersion: 0,
    numSamples: 1,
    delta: encodeWeights(zero, 'float32'),
    metrics,
  });
  assert.equal(tf.memory().numTensors, before);
  // Both clients sent a zero delta: the ensemble is the global model's own predictions.
  const expected = predictProbs(model, proxyX, 2, 2);
  round.ensembleMean()!.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6));
  model.dispose();
  scratch.dispose();
});
