import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnist } from '../../../../node/data/mnist.js';
import { labelHistogram } from '../../../../shared/data/partition.js';
import { DatasetError } from '../../../../shared/errors.js';

test('loadMnist: 10,000 real digits, 784 values in [0,1], all 10 labels roughly balanced', (t) => {
  const data = loadMnist();
  assert.equal(data.count, 10000);
  assert.equal(data.x.length, 10000 * 784);
  assert.equal(data.y.length, 10000);
  let min = Infinity;
  let max = -Infinity;
  for (const v of data.x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= 0 && max <= 1, `range ${min}..${max}`);
  assert.ok(max > 0.9, 'digits have ink');
  const hist = labelHistogram(data.y, undefined, 10);
  t.diagnostic(`label counts: ${[...hist].join(' ')}`);
  // The package holds 863..1127 of each digit.
  for (const c of hist) assert.ok(c > 800 && c < 1200, `counts ${[...hist]}`);
  // Each row is a digit, not noise: ~10–25% of its 784 pixels are ink.
  const ink = data.x.subarray(0, 784).filter((v) => v > 0.5).length;
  assert.ok(ink > 30 && ink < 300, `ink pixels ${ink}`);
});

test('loadMnist is deterministic, prefixes are class-balanced, copies are independent', () => {
  const a = loadMnist({ count: 500 });
  const b = loadMnist({ count: 500 });
  assert.deepEqual(a.y, b.y);
  assert.deepEqual(a.x, b.x);
  a.x[0] = 42;
  assert.notEqual(loadMnist({ count: 1 }).x[0], 42);
  // First 500 of the fixed shuffle: every class present, none dominating.
  const hist = labelHistogram(a.y, undefined, 10);
  for (const c of hist) assert.ok(c > 20 && c < 90, `counts ${[...hist]}`);
  const other = loadMnist({ count: 500, seed: 1 });
  assert.notDeepEqual(other.y, a.y);
  assert.throws(() => loadMnist({ count: 0 }), DatasetError);
  assert.throws(() => loadMnist({ count: 10001 }), DatasetError);
});
