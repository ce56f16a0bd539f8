import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  UpdateBound,
  coordinateViolation,
  l2Norm,
  median,
  updateBoundSchema,
} from '../../../../server/robustness/index.js';

const config = (overrides: Record<string, unknown> = {}) => updateBoundSchema.parse(overrides);

test('l2Norm sums in float64: huge float32 values give a finite norm', () => {
  assert.equal(l2Norm(Float32Array.from([3, 4])), 5);
  // float32(3e38) = 2.9999999521e38 (the nearest float32); two of them: √2 · that.
  const huge = Float32Array.from([3e38, 3e38]);
  const expected = Math.SQRT2 * Math.fround(3e38);
  assert.ok(Number.isFinite(l2Norm(huge)));
  assert.ok(Math.abs(l2Norm(huge) - expected) / expected < 1e-12);
  assert.ok(Number.isNaN(l2Norm(Float32Array.from([1, Number.NaN]))));
});

test('median: odd, even, unsorted', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('coordinateViolation names the first coordinate past the bound or not finite', () => {
  assert.equal(coordinateViolation(Float32Array.from([0.5, -10, 10]), 10), undefined);
  assert.match(
    coordinateViolation(Float32Array.from([0, -10.5, 1e30]), 10)!,
    /coordinate 1 is -10\.5, beyond the per-coordinate bound ±10$/,
  );
  assert.match(
    coordinateViolation(Float32Array.from([0, Infinity]), 10)!,
    /coordinate 1 is Infinity/,
  );
  assert.match(coordinateViolation(Float32Array.from([Number.NaN]), 10)!, /coordinate 0 is NaN/);
});

test('the first round is held to maxNorm; clip scales a delta down to exactly the bound', () => {
  const bound = new UpdateBound(config({ maxNorm: 5 }));
  assert.equal(bound.openRound(), 5);
  const fine = bound.check(Float32Array.from([3, 4]));
  assert.equal(fine.action, 'accept');
  assert.equal(fine.norm, 5);
  assert.equal(fine.reason, undefined);
  // ‖(6, 8)‖ = 10 → ×0.5 → (3, 4).
  const over = bound.check(Float32Array.from([6, 8]));
  assert.equal(over.action, 'clip');
  assert.deepEqual([...over.delta!], [3, 4]);
  assert.match(over.reason!, /^clipped: norm 10 exceeds the round's bound 5$/);
});

test('refuse mode refuses over the norm bound; a huge coordinate is refused in clip mode too', () => {
  const refusing = new UpdateBound(config({ maxNorm: 5, onExcess: 'refuse' }));
  refusing.openRound();
  const verdict = refusing.check(Float32Array.from([6, 8]));
  assert.equal(verdict.action, 'refuse');
  assert.equal(verdict.delta, undefined);
  assert.match(verdict.reason!, /^norm 10 exceeds the round's bound 5$/);

  const clipping = new UpdateBound(config());
  clipping.openRound();
  for (const attack of [
    new Float32Array(1000).fill(3e38),
    new Float32Array(1000).fill(1e30),
    Float32Array.from({ length: 1000 }, (_, i) => (i === 617 ? 3e38 : 0)),
  ]) {
    const v = clipping.check(attack);
    assert.equal(v.action, 'refuse');
    assert.match(v.reason!, /per-coordinate bound/);
    assert.ok(Number.isFinite(v.norm));
  }
});

test('the bound adapts: medianMultiple × median of recent accepted norms, within [minNorm, maxNorm]', () => {
  const bound = new UpdateBound(
    config({ maxNorm: 100, medianMultiple: 5, minNorm: 1, historyRounds: 2, maxCoordinate: 100 }),
  );
  const accept = (...norms: number[]) => {
    for (const n of norms) {
      const v = bound.check(Float32Array.from([n]));
      assert.notEqual(v.action, 'refuse');
      bound.accepted(v);
    }
  };
  bound.openRound();
  accept(2, 4, 3); // median 3
  bound.closeRound(true);
  assert.equal(bound.openRound(), 15);
  // Norm 20 > 15: clipped, and recorded as 15 (what was folded in), so the attacker
  // cannot raise the median with it.
  accept(1, 20);
  bound.closeRound(true);
  // History [2, 4, 3] + [1, 15]: median 3 → 15.
  assert.equal(bound.openRound(), 15);
  accept(0.01, 0.02, 0.03);
  bound.closeRound(true);
  // Window of 2 rounds: [1, 15] + [0.01, 0.02, 0.03]: median 0.03 → 0.15, floored at 1.
  assert.equal(bound.openRound(), 1);
  // A failed round leaves the history alone.
  accept(0.5);
  bound.closeRound(false);
  assert.equal(bound.openRound(), 1);

  const capped = new UpdateBound(config({ maxNorm: 10, medianMultiple: 5 }));
  capped.openRound();
  const v = capped.check(Float32Array.from([8]));
  capped.accepted(v);
  capped.closeRound(true);
  // 5 × 8 = 40, capped at maxNorm 10.
  assert.equal(capped.openRound(), 10);
});

test('check changes nothing: a refused or unrecorded verdict does not move the bound', () => {
  const bound = new UpdateBound(config({ maxNorm: 50 }));
  bound.openRound();
  bound.check(Float32Array.from([40]));
  const refused = bound.check(Float32Array.from([1e30]));
  bound.accepted(refused);
  bound.closeRound(true);
  assert.equal(bound.openRound(), 50);
});

test('defaults: clip, maxNorm 100, 5× median, floor 1, 5 rounds, coordinates ±10', () => {
  assert.deepEqual(config(), {
    onExcess: 'clip',
    maxNorm: 100,
    medianMultiple: 5,
    minNorm: 1,
    historyRounds: 5,
    maxCoordinate: 10,
  });
  assert.throws(() => config({ maxNorm: 0 }));
  assert.throws(() => config({ onExcess: 'ignore' }));
});
