/**
 * feddf: each accepted client's student is run on the proxy set as its delta
 * arrives, and after averaging the student is distilled towards the ensemble.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { getStrategy } from '../../../../server/strategies/index.js';
import { buildModel, getFlatWeights, mlpSpec } from '../../../../shared/index.js';
import { deltaUpdate, quorumOf, roundContext, strategyContext } from './context.js';

before(async () => {
  await tf.setBackend('cpu');
});

test('feddf needs the proxy set at the coordinator', () => {
  assert.ok(getStrategy('feddf').capabilities.needsProxyAtCoordinator);
  assert.throws(() => getStrategy('feddf').create(strategyContext()), /proxy set/);
});

test('feddf: the averaged student moves towards the ensemble, without leaking tensors', async () => {
  const spec = mlpSpec(3, [4], 2);
  const initial = buildModel(spec, 1);
  const global = getFlatWeights(initial);
  initial.dispose();
  const proxy = {
    x: Float32Array.from([0.1, 0.2, 0.3, 1, 0, -1]),
    softLabels: Float32Array.from([0.9, 0.1, 0.2, 0.8]),
    count: 2,
  };
  const before = tf.memory().numTensors;
  const strategy = getStrategy('feddf').create(
    strategyContext({ ensembleDistillation: { epochs: 3, learningRate: 0.05 } }, { spec, proxy }),
  );
  const round = strategy.beginRound(roundContext(1, global));
  const zero = Array.from({ length: global.length }, () => 0);
  round.accept('a', deltaUpdate(zero, 1));
  round.accept('b', deltaUpdate(zero, 1));
  const result = await round.aggregate(quorumOf(2));
  // Both deltas are zero, so plain averaging would return the global weights unchanged.
  const moved = result.weights!.some((v, i) => Math.abs(v - global[i]!) > 1e-6);
  assert.ok(moved, 'server-side distillation changed the averaged student');
  strategy.dispose?.();
  assert.equal(tf.memory().numTensors, before, 'every tensor of the round and its models freed');
});
