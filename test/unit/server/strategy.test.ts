import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blend, planFor, roundConfigFor, sharpen } from '../../../server/strategy.js';
import type { RoundConfig } from '../../../shared/index.js';

const training: RoundConfig = {
  epochs: 1,
  batchSize: 8,
  learningRate: 0.01,
  temperature: 4,
  alpha: 0.3,
  optimizer: 'adam',
  updatePrecision: 'float32',
};

test('what each strategy moves', () => {
  assert.deepEqual(
    (['fedkd', 'fedavg', 'feddf', 'fedmd', 'dsfl', 'local'] as const).map((s) => {
      const p = planFor(s);
      return [s, p.sendsWeights, p.exchangesLogits, p.usesTeacher, p.distillsEnsemble];
    }),
    [
      ['fedkd', true, false, true, false],
      ['fedavg', true, false, false, false],
      ['feddf', true, false, true, true],
      ['fedmd', false, true, true, false],
      ['dsfl', false, true, true, false],
      ['local', false, false, false, false],
    ],
  );
});

test('without a teacher clients train on hard labels only (α = 1); logit exchange carries its weight', () => {
  assert.equal(roundConfigFor(planFor('fedavg'), training, 0.5).alpha, 1);
  assert.equal(roundConfigFor(planFor('fedkd'), training, 0.5).alpha, 0.3);
  assert.equal(roundConfigFor(planFor('fedkd'), training, 0.5).consensusWeight, undefined);
  assert.equal(roundConfigFor(planFor('dsfl'), training, 0.7).consensusWeight, 0.7);
});

test('DS-FL sharpening is softmax(p̄ / T) per row, by hand', () => {
  // p̄ = [0.5, 0.3, 0.2], T = 0.1: exp([5, 3, 2] − 5) = [1, e^-2, e^-3] / (1 + 0.135335 + 0.049787)
  const out = sharpen(Float32Array.from([0.5, 0.3, 0.2, 1 / 3, 1 / 3, 1 / 3]), 3, 0.1);
  const z = 1 + Math.exp(-2) + Math.exp(-3);
  [1 / z, Math.exp(-2) / z, Math.exp(-3) / z, 1 / 3, 1 / 3, 1 / 3].forEach((v, i) =>
    assert.ok(Math.abs(out[i]! - v) < 1e-6, `${i}: ${out[i]} vs ${v}`),
  );
  // Lower entropy than the average it came from (a uniform row stays uniform).
  assert.ok(out[0]! > 0.5);
});

test('blend is w·a + (1 − w)·b and keeps rows summing to 1', () => {
  const out = blend(Float32Array.from([1, 0]), Float32Array.from([0.2, 0.8]), 0.25);
  assert.ok(Math.abs(out[0]! - 0.4) < 1e-7 && Math.abs(out[1]! - 0.6) < 1e-7);
});
