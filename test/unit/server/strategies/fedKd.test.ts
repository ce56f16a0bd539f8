/**
 * fedkd (and every weight-averaging strategy): the sample-weighted mean of the
 * deltas, applied through the server optimiser; every update is checked whole
 * before anything is folded in, so a refused one leaves the round as it was.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getStrategy, ContributionError } from '../../../../server/strategies/index.js';
import type { WeightAveragingRound } from '../../../../server/strategies/index.js';
import { encodeSoftLabels } from '../../../../shared/index.js';
import type { UpdateMessage } from '../../../../shared/index.js';
import { deltaUpdate, metrics, quorumOf, roundContext, strategyContext } from './context.js';

test('fedkd: sample-weighted mean of deltas added to the global weights; refused updates change nothing', async () => {
  const strategy = getStrategy('fedkd').create(strategyContext());
  const round = strategy.beginRound(roundContext(1, Float32Array.from([10, 20])));
  assert.ok(round.instructions.weights, 'the global weights go down');
  assert.equal(round.instructions.config.alpha, 0.3, 'the teacher is used: α as configured');
  round.accept('a', deltaUpdate([1, 2], 3));
  const bad: unknown[] = [
    deltaUpdate([1, 2, 3], 1), // wrong length
    {
      ...deltaUpdate([0, 0], 1),
      predictions: {
        indices: new Int32Array(0),
        probs: encodeSoftLabels(new Float32Array(0), { numClasses: 2 }),
      },
    },
    { roundId: 1, modelVersion: 0, numSamples: 1, metrics }, // no delta
    { ...deltaUpdate([0, 0], 1), masked: new Uint32Array(2) },
  ];
  for (const update of bad)
    assert.throws(() => round.accept('b', update as UpdateMessage), ContributionError);
  const nan = deltaUpdate([0, 0], 1);
  (nan.delta!.data as Float32Array)[1] = Number.NaN;
  assert.throws(() => round.accept('b', nan), /NaN|finite/);
  round.accept('b', deltaUpdate([3, 6], 1));
  // (3·[1, 2] + 1·[3, 6]) / 4 = [1.5, 3], added to [10, 20].
  const result = await round.aggregate(quorumOf(2));
  assert.equal(result.failure, undefined);
  assert.equal(result.participants, 2);
  assert.deepEqual([...result.weights!], [11.5, 23]);
});

test('below quorum nothing is applied: no weights, and the server optimiser does not step', async () => {
  const strategy = getStrategy('fedkd').create(
    strategyContext({ serverOptimizer: { kind: 'fedavgm', learningRate: 1, momentum: 0.9 } }),
  );
  const global = Float32Array.from([0]);
  const first = strategy.beginRound(roundContext(1, global));
  first.accept('a', deltaUpdate([1], 1));
  const failed = await first.aggregate(quorumOf(2));
  assert.match(failed.failure!, /quorum/);
  assert.equal(failed.weights, undefined);
  // Had the failed round stepped, the momentum would carry 1 into this round: 0.9·1 + 1 = 1.9.
  const second = strategy.beginRound(roundContext(2, global));
  second.accept('a', deltaUpdate([1], 1));
  assert.deepEqual([...(await second.aggregate(quorumOf(1))).weights!], [1]);
});

test('a robust aggregator sees every delta: the median ignores one huge outlier', async () => {
  const strategy = getStrategy('fedkd').create(strategyContext({ aggregator: { kind: 'median' } }));
  const round = strategy.beginRound(roundContext(1, new Float32Array(1)));
  for (const [i, v] of [1, 2, 1000].entries()) round.accept(`c${i}`, deltaUpdate([v], 1));
  assert.deepEqual([...(await round.aggregate(quorumOf(1))).weights!], [2]);
});

test('applyMeanDelta takes a mean computed elsewhere (a secure sum) through the server optimiser', async () => {
  const strategy = getStrategy('fedavg').create(strategyContext());
  const round = strategy.beginRound(
    roundContext(1, Float32Array.from([1, 1])),
  ) as WeightAveragingRound;
  assert.deepEqual([...(await round.applyMeanDelta(Float32Array.from([0.5, -1])))], [1.5, 0]);
});

test('fedavg: clients train on hard labels only (α = 1)', () => {
  const round = getStrategy('fedavg')
    .create(strategyContext())
    .beginRound(roundContext(1, new Float32Array(2)));
  assert.equal(round.instructions.config.alpha, 1);
  assert.equal(round.instructions.config.consensusWeight, undefined);
  assert.equal(round.instructions.predict, undefined);
});
