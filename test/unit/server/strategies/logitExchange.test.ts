/**
 * fedmd and dsfl: no weights travel; a round asks for predictions on a seeded
 * proxy sample, checks them, and the next round carries their consensus (the
 * mean for FedMD, DS-FL's entropy-reduction sharpening of it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getStrategy, proxySample, sharpen } from '../../../../server/strategies/index.js';
import { decodeSoftLabels } from '../../../../shared/index.js';
import {
  deltaUpdate,
  predictionUpdate,
  quorumOf,
  roundContext,
  strategyContext,
} from './context.js';

test('fedmd: predictions must be for the requested samples; the next round carries their mean', async () => {
  const context = strategyContext({ logitExchange: { samples: 2 } }, { proxyCount: 10 });
  const strategy = getStrategy('fedmd').create(context);
  const first = strategy.beginRound(roundContext(1, new Float32Array(0)));
  const indices = first.instructions.predict!.indices;
  assert.deepEqual([...indices], [...proxySample(context, 1)]);
  assert.equal(indices.length, 2);
  assert.equal(first.instructions.weights, undefined, 'no weights travel');
  assert.equal(first.instructions.consensus, undefined, 'round 1 has no consensus yet');
  assert.equal(first.instructions.config.consensusWeight, 0.5);
  first.accept('a', predictionUpdate(indices, [1, 0, 0.5, 0.5], 0.8));
  const other = Int32Array.from([indices[0]!, (indices[1]! + 1) % 10]);
  assert.throws(
    () => first.accept('b', predictionUpdate(other, [1, 0, 1, 0])),
    /not for the proxy samples/,
  );
  assert.throws(() => first.accept('b', deltaUpdate([1], 1)), /sent no weights/);
  assert.throws(
    () => first.accept('b', predictionUpdate(indices, [1, 0, Number.NaN, 0])),
    /finite/,
  );
  first.accept('b', predictionUpdate(indices, [0, 1, 0.5, 0.5], 0.6));
  const result = await first.aggregate(quorumOf(2));
  assert.equal(result.weights, undefined);
  assert.ok(Math.abs(result.clientAccuracy! - 0.7) < 1e-12);
  const second = strategy.beginRound(roundContext(2, new Float32Array(0)));
  const consensus = second.instructions.consensus!;
  assert.deepEqual([...consensus.indices], [...indices]);
  assert.deepEqual([...decodeSoftLabels(consensus.probs)], [0.5, 0.5, 0.5, 0.5]);
});

test('a round below quorum leaves the consensus as it was', async () => {
  const strategy = getStrategy('fedmd').create(strategyContext({ logitExchange: { samples: 1 } }));
  const first = strategy.beginRound(roundContext(1, new Float32Array(0)));
  first.accept('a', predictionUpdate(first.instructions.predict!.indices, [1, 0]));
  assert.match((await first.aggregate(quorumOf(2))).failure!, /quorum/);
  assert.equal(
    strategy.beginRound(roundContext(2, new Float32Array(0))).instructions.consensus,
    undefined,
  );
});

test('dsfl: the consensus is softmax(p̄ / T) per row, by hand', async () => {
  // p̄ = [0.5, 0.3, 0.2], T = 0.1: exp([5, 3, 2] − 5) = [1, e^-2, e^-3] / (1 + e^-2 + e^-3)
  const out = sharpen(Float32Array.from([0.5, 0.3, 0.2, 1 / 3, 1 / 3, 1 / 3]), 3, 0.1);
  const z = 1 + Math.exp(-2) + Math.exp(-3);
  [1 / z, Math.exp(-2) / z, Math.exp(-3) / z, 1 / 3, 1 / 3, 1 / 3].forEach((v, i) =>
    assert.ok(Math.abs(out[i]! - v) < 1e-6, `${i}: ${out[i]} vs ${v}`),
  );
  const strategy = getStrategy('dsfl').create(
    strategyContext({ logitExchange: { samples: 1, sharpenTemperature: 0.5 } }),
  );
  const first = strategy.beginRound(roundContext(1, new Float32Array(0)));
  first.accept('a', predictionUpdate(first.instructions.predict!.indices, [0.75, 0.25]));
  await first.aggregate(quorumOf(1));
  const probs = decodeSoftLabels(
    strategy.beginRound(roundContext(2, new Float32Array(0))).instructions.consensus!.probs,
  );
  // softmax([0.75, 0.25] / 0.5) = [e / (e + 1), 1 / (e + 1)]
  assert.ok(Math.abs(probs[0]! - Math.E / (Math.E + 1)) < 1e-3, `${probs[0]}`);
});
