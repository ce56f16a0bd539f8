import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmaSnapshot } from '../../../../shared/losses/index.js';
import { throwsInput } from './helpers.js';

test('EmaSnapshot averages with w ← decay·w + (1 − decay)·current', () => {
  const initial = new Float32Array([0, 10, -4]);
  const ema = new EmaSnapshot(initial, 0.5);
  initial[0] = 99; // the snapshot copied its input
  ema.update(new Float32Array([2, 0, 4])); // [0.5·0 + 0.5·2, 0.5·10 + 0, 0.5·−4 + 0.5·4] = [1, 5, 0]
  assert.deepEqual(Array.from(ema.weights), [1, 5, 0]);
  ema.update(new Float32Array([3, 5, 2])); // [0.5 + 1.5, 2.5 + 2.5, 0 + 1] = [2, 5, 1]
  assert.deepEqual(Array.from(ema.weights), [2, 5, 1]);
  assert.equal(ema.updates, 2);
  assert.equal(ema.decay, 0.5);
  // The getter hands out a copy.
  ema.weights[0] = 123;
  assert.equal(ema.weights[0], 2);
});

test('EmaSnapshot with decay 0 follows the latest weights; 0.9 converges geometrically', () => {
  const follow = new EmaSnapshot(new Float32Array([1, 1]), 0);
  follow.update(new Float32Array([7, -3]));
  assert.deepEqual(Array.from(follow.weights), [7, -3]);
  const slow = new EmaSnapshot(new Float32Array([0]), 0.9);
  for (let i = 0; i < 10; i++) slow.update(new Float32Array([1]));
  // 1 − 0.9^10 = 0.651322
  assert.ok(Math.abs((slow.weights[0] as number) - (1 - 0.9 ** 10)) < 1e-6);
});

test('EmaSnapshot validates decay, lengths and finiteness', () => {
  for (const decay of [1, -0.1, 1.5, Number.NaN]) {
    throwsInput(
      () => new EmaSnapshot(new Float32Array(2), decay),
      new RegExp(`decay must be in \\[0, 1\\), got ${decay}`),
    );
  }
  throwsInput(() => new EmaSnapshot(new Float32Array([0, Number.NaN]), 0.5), /weights\[1\] = NaN/);
  const ema = new EmaSnapshot(new Float32Array([1, 2]), 0.5);
  throwsInput(() => ema.update(new Float32Array(3)), /length 3, expected 2/);
  throwsInput(() => ema.update(new Float32Array([0, Infinity])), /weights\[1\] = Infinity/);
  // A rejected update leaves the average untouched.
  assert.deepEqual(Array.from(ema.weights), [1, 2]);
  assert.equal(ema.updates, 0);
});
