import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AccuracyGuard,
  addDelta,
  modelGuardSchema,
  verifyDelta,
  verifyWeights,
} from '../../../../server/robustness/index.js';

test('addDelta overflows in float32 where each operand is finite: verifyWeights catches it', () => {
  const w = Float32Array.from([0.5, 3e38]);
  const delta = Float32Array.from([0.25, 3e38]);
  assert.equal(verifyDelta(delta, 2), undefined);
  const next = addDelta(w, delta);
  assert.equal(next[0], 0.75);
  assert.equal(next[1], Infinity);
  assert.match(verifyWeights(next, 2, { maxWeight: 1000 })!, /weight 1 is Infinity, not finite/);
  // The inputs are untouched.
  assert.equal(w[1], Math.fround(3e38));
});

test('verifyWeights: bounded, finite and of the student size', () => {
  const config = { maxWeight: 1000 };
  assert.equal(verifyWeights(Float32Array.from([-1000, 1000, 0]), 3, config), undefined);
  assert.match(
    verifyWeights(Float32Array.from([0, -1000.5]), 2, config)!,
    /weight 1 is -1000\.5, beyond ±1000$/,
  );
  assert.match(verifyWeights(Float32Array.from([Number.NaN]), 1, config)!, /weight 0 is NaN/);
  assert.match(verifyWeights(new Float32Array(2), 3, config)!, /2 values, the student 3/);
});

test('verifyDelta: non-finite values and wrong length', () => {
  assert.equal(verifyDelta(Float32Array.from([1e38, -1e38]), 2), undefined);
  assert.match(verifyDelta(Float32Array.from([0, -Infinity]), 2)!, /value 1 is -Infinity/);
  assert.match(verifyDelta(Float32Array.from([Number.NaN]), 1)!, /value 0 is NaN/);
  assert.match(verifyDelta(new Float32Array(1), 2)!, /1 values, the student 2/);
});

test('AccuracyGuard: a drop over the limit is refused against the last good accuracy', () => {
  const guard = new AccuracyGuard({ maxAccuracyDrop: 0.1 });
  assert.equal(guard.judge(0.8), undefined);
  assert.equal(guard.lastGoodAccuracy, 0.8);
  // 0.8 → 0.71: 9 points, within.
  assert.equal(guard.judge(0.71), undefined);
  assert.equal(guard.lastGoodAccuracy, 0.71);
  // 0.71 → 0.6: 11 points.
  assert.match(
    guard.judge(0.6)!,
    /fell from 71\.00% to 60\.00%, more than the guard's 10\.00 points/,
  );
  // The reference stays at the last good model.
  assert.equal(guard.lastGoodAccuracy, 0.71);
  assert.equal(guard.judge(0.7), undefined);
  assert.match(guard.judge(Number.NaN)!, /accuracy is NaN/);
});

test('AccuracyGuard off lets any finite accuracy stand; a resumed run starts from its last accuracy', () => {
  const off = new AccuracyGuard({});
  assert.equal(off.judge(0.9), undefined);
  assert.equal(off.judge(0.1), undefined);
  const resumed = new AccuracyGuard({ maxAccuracyDrop: 0.05 }, 0.9);
  assert.match(resumed.judge(0.8)!, /fell from 90\.00%/);
  assert.deepEqual(modelGuardSchema.parse({}), { maxWeight: 1000 });
});
