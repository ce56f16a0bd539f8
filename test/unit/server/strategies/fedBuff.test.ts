/**
 * fedbuff: the staleness weights s(τ) against hand-computed values, and one
 * buffer's aggregate w + η·(1/n)·Σ s(τᵢ)·Δᵢ, with the refusals that leave the
 * buffer as it was (too stale, full, no staleness given), and the settings it
 * cannot run with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCoordinatorConfig } from '../../../../server/config.js';
import {
  ContributionError,
  getStrategy,
  stalenessWeight,
  strategyNames,
} from '../../../../server/strategies/index.js';
import { deltaUpdate, quorumOf, roundContext, strategyContext } from './context.js';

const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} ≠ ${expected}`);

test('staleness weights: polynomial (1+τ)^-a, hinge, constant', () => {
  const sqrt = { kind: 'polynomial', exponent: 0.5 } as const;
  close(stalenessWeight(0, sqrt), 1);
  close(stalenessWeight(3, sqrt), 0.5); // 1/√4
  close(stalenessWeight(8, sqrt), 1 / 3); // 1/√9
  close(stalenessWeight(1, sqrt), 0.7071067811865476); // 1/√2
  close(stalenessWeight(1, { kind: 'polynomial', exponent: 1 }), 0.5);
  close(stalenessWeight(4, { kind: 'polynomial', exponent: 2 }), 1 / 25);
  close(stalenessWeight(7, { kind: 'polynomial', exponent: 0 }), 1);
  const hinge = { kind: 'hinge', slope: 10, after: 4 } as const;
  close(stalenessWeight(0, hinge), 1);
  close(stalenessWeight(4, hinge), 1);
  close(stalenessWeight(5, hinge), 1 / 11); // 1/(10·1 + 1)
  close(stalenessWeight(6, hinge), 1 / 21);
  close(stalenessWeight(9, { kind: 'constant' }), 1);
  for (const bad of [-1, 0.5, Number.NaN])
    assert.throws(() => stalenessWeight(bad, sqrt), RangeError);
});

test('the defaults are FedBuff’s: s(τ) = 1/√(1+τ), K = 10, max τ = 10, η = 1', () => {
  assert.deepEqual(parseCoordinatorConfig({}).fedbuff, {
    bufferSize: 10,
    staleness: { kind: 'polynomial', exponent: 0.5 },
    maxStaleness: 10,
    serverLearningRate: 1,
  });
  assert.ok(strategyNames().includes('fedbuff'));
});

test('fedbuff: w + η/n·Σ s(τ)·Δ once K updates are in; a too-stale or extra update changes nothing', async () => {
  const strategy = getStrategy('fedbuff').create(
    strategyContext({
      strategy: 'fedbuff',
      fedbuff: { bufferSize: 3, maxStaleness: 8, serverLearningRate: 0.5 },
    }),
  );
  const round = strategy.beginRound(roundContext(4, Float32Array.from([1, 2])));
  assert.ok(round.instructions.weights, 'the global weights go down');
  assert.equal(round.instructions.config.alpha, 0.3, 'clients distil as under fedkd');
  assert.equal(round.complete?.(), false);
  assert.throws(() => round.accept('a', deltaUpdate([3, 0], 1)), /staleness/);
  const note = round.accept('a', deltaUpdate([3, 0], 1), { staleness: 0 });
  assert.deepEqual(note, { note: 'staleness 0, weight 1.00000' });
  assert.throws(
    () => round.accept('x', deltaUpdate([100, 100], 1), { staleness: 9 }),
    (error: unknown) =>
      error instanceof ContributionError &&
      error.code === 'stale-model' &&
      /staleness 9 exceeds maxStaleness 8/.test(error.message),
  );
  round.accept('b', deltaUpdate([0, 6], 1), { staleness: 3 });
  assert.equal(round.complete?.(), false);
  round.accept('a', deltaUpdate([2, 2], 1), { staleness: 8 });
  assert.equal(round.complete?.(), true, 'K = 3 updates: the round may close');
  assert.throws(
    () => round.accept('c', deltaUpdate([100, 100], 1), { staleness: 0 }),
    (error: unknown) => error instanceof ContributionError && error.code === 'too-late',
  );
  // Σ s(τ)Δ = 1·[3, 0] + ½·[0, 6] + ⅓·[2, 2] = [11/3, 11/3]; η/n = 0.5/3: each weight + 11/18.
  const result = await round.aggregate(quorumOf(3));
  assert.equal(result.failure, undefined);
  assert.equal(result.participants, 3);
  close(result.weights![0]!, Math.fround(1 + 11 / 18));
  close(result.weights![1]!, Math.fround(2 + 11 / 18));
  close(result.staleness!.mean, 11 / 3);
  assert.equal(result.staleness!.max, 8);
});

test('fedbuff below quorum or with nothing buffered applies nothing', async () => {
  const strategy = getStrategy('fedbuff').create(strategyContext({ strategy: 'fedbuff' }));
  const empty = strategy.beginRound(roundContext(1, Float32Array.from([0])));
  assert.match((await empty.aggregate(quorumOf(1))).failure!, /no weight delta/);
  const short = strategy.beginRound(roundContext(2, Float32Array.from([0])));
  short.accept('a', deltaUpdate([1], 1), { staleness: 0 });
  const failed = await short.aggregate(quorumOf(5));
  assert.match(failed.failure!, /quorum/);
  assert.equal(failed.weights, undefined);
});

test('fedbuff cannot run with a robust aggregator, differential privacy or secure aggregation', () => {
  assert.throws(
    () => parseCoordinatorConfig({ strategy: 'fedbuff', aggregator: { kind: 'median' } }),
    /staleness[\s\S]*median aggregator cannot apply[\s\S]*at aggregator/,
  );
  assert.throws(
    () =>
      parseCoordinatorConfig({ strategy: 'fedbuff', privacy: { clipNorm: 1, noiseMultiplier: 1 } }),
    /privacy/,
  );
  assert.throws(
    () => parseCoordinatorConfig({ strategy: 'fedbuff', secureAggregation: {} }),
    /secure aggregation needs a strategy/,
  );
});

test('fedbuff folds in what the update bound lets through: a refused delta changes nothing, a clipped one is noted', async () => {
  const strategy = getStrategy('fedbuff').create(
    strategyContext({ strategy: 'fedbuff', fedbuff: { bufferSize: 2 } }),
  );
  const round = strategy.beginRound({
    ...roundContext(1, Float32Array.from([0, 0])),
    // A stand-in for the coordinator's bound: refuse |Δ₀| > 50, halve |Δ₀| > 5 (noted).
    screenDelta: (delta) => {
      if (Math.abs(delta[0]!) > 50)
        throw new ContributionError('update bound: too far', 'rejected-weights');
      if (Math.abs(delta[0]!) > 5)
        return { delta: delta.map((x) => x / 2), note: 'clipped: halved' };
      return { delta };
    },
  });
  assert.throws(
    () => round.accept('x', deltaUpdate([100, 0], 1), { staleness: 0 }),
    /update bound/,
  );
  assert.deepEqual(round.accept('a', deltaUpdate([8, 0], 1), { staleness: 1 }), {
    note: 'staleness 1, weight 0.707107; clipped: halved',
  });
  round.accept('b', deltaUpdate([2, 2], 1), { staleness: 0 });
  // (1/√2·[4, 0] + 1·[2, 2]) / 2
  const weights = (await round.aggregate(quorumOf(2))).weights!;
  close(weights[0]!, Math.fround((4 / Math.SQRT2 + 2) / 2));
  close(weights[1]!, 1);
});
