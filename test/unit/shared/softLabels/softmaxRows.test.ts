import assert from 'node:assert/strict';
import { test } from 'node:test';
import { softmaxRows } from '../../../../shared/index.js';

test('row softmax of values / T by hand, stable for huge logits', () => {
  // Row [0, ln 3] at T = 1: [1, 3] / 4. Row [1000, 1000] at T = 0.5: equal halves, no overflow.
  const out = softmaxRows(Float32Array.from([0, Math.log(3), 1000, 1000]), 2, 1);
  [0.25, 0.75, 0.5, 0.5].forEach((v, i) =>
    assert.ok(Math.abs(out[i]! - v) < 1e-6, `${i}: ${out[i]}`),
  );
  // T = 2 halves the logits: [0, ln 9] / 2 = [0, ln 3].
  const warm = softmaxRows(Float32Array.from([0, Math.log(9)]), 2, 2);
  assert.ok(Math.abs(warm[1]! - 0.75) < 1e-6);
});
