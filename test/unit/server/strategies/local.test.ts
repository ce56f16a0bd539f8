import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getStrategy } from '../../../../server/strategies/index.js';
import { deltaUpdate, metrics, quorumOf, roundContext, strategyContext } from './context.js';

test('local: clients train alone on hard labels; only metrics come back', async () => {
  const round = getStrategy('local')
    .create(strategyContext())
    .beginRound(roundContext(1, new Float32Array(0)));
  assert.equal(round.instructions.config.alpha, 1);
  assert.equal(round.instructions.weights, undefined);
  assert.equal(round.instructions.predict, undefined);
  assert.throws(() => round.accept('a', deltaUpdate([1], 1)), /train alone/);
  round.accept('a', {
    roundId: 1,
    modelVersion: 0,
    numSamples: 3,
    metrics: { ...metrics, validationAccuracy: 0.5 },
  });
  round.accept('b', { roundId: 1, modelVersion: 0, numSamples: 3, metrics });
  const result = await round.aggregate(quorumOf(2));
  assert.equal(result.participants, 2);
  assert.equal(result.clientAccuracy, 0.5, 'the mean of the accuracies reported');
});
