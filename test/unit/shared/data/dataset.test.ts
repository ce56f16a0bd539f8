import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLabeledData,
  concatData,
  featureSizeOf,
  oneHot,
  splitDataset,
  splitIndices,
  subset,
} from '../../../../shared/data/dataset.js';
import { createRng } from '../../../../shared/data/rng.js';
import type { LabeledData } from '../../../../shared/data/types.js';
import { DatasetError } from '../../../../shared/errors.js';

/** n rows of 2 features: row i = [i, -i], label i % 3. */
function toy(n: number): LabeledData {
  const x = new Float32Array(n * 2);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = -i;
    y[i] = i % 3;
  }
  return { x, y, count: n };
}

test('subset copies the rows at the indices, in order, keeping the label type', () => {
  const data = toy(5);
  const s = subset(data, [4, 1, 1]);
  assert.equal(s.count, 3);
  assert.deepEqual(s.x, Float32Array.from([4, -4, 1, -1, 1, -1]));
  assert.deepEqual(s.y, Uint8Array.from([1, 1, 1]));
  assert.ok(s.y instanceof Uint8Array);
  s.x[0] = 99;
  assert.equal(data.x[8], 4, 'subset must copy, not alias');
  const wide = subset({ ...data, y: Int32Array.from(data.y) }, Int32Array.from([0]), 2);
  assert.ok(wide.y instanceof Int32Array);
  assert.throws(() => subset(data, [5]), /outside 0..4/);
  assert.throws(() => subset(data, [-1]), DatasetError);
  assert.throws(() => subset(data, [0], 3), /not count 5 × featureSize 3/);
});

test('concatData stacks rows and checks feature sizes', () => {
  const a = toy(2);
  const b = subset(toy(4), [3]);
  const c = concatData([a, { x: new Float32Array(0), y: new Uint8Array(0), count: 0 }, b]);
  assert.equal(c.count, 3);
  assert.deepEqual(c.x, Float32Array.from([0, -0, 1, -1, 3, -3]));
  assert.deepEqual(c.y, Uint8Array.from([0, 1, 0]));
  const big = concatData([
    a,
    { x: Float32Array.from([7, 7]), y: Int32Array.from([300]), count: 1 },
  ]);
  assert.ok(big.y instanceof Int32Array);
  assert.deepEqual([...big.y], [0, 1, 300]);
  assert.throws(() => concatData([]), DatasetError);
  assert.throws(
    () => concatData([a, { x: new Float32Array(3), y: new Uint8Array(1), count: 1 }]),
    /3 features per row, the first has 2/,
  );
});

test('splitIndices with counts: disjoint, sizes exact, rest takes what is left', () => {
  const parts = splitIndices(
    100,
    { teacherTrain: 30, proxy: 20, clients: 'rest', test: 10 },
    createRng(1),
  );
  assert.equal(parts.teacherTrain.length, 30);
  assert.equal(parts.proxy.length, 20);
  assert.equal(parts.clients.length, 40);
  assert.equal(parts.test.length, 10);
  const all = [...parts.teacherTrain, ...parts.proxy, ...parts.clients, ...parts.test];
  assert.equal(new Set(all).size, 100);
  // Counts that do not use everything leave the rest out.
  const partial = splitIndices(10, { a: 3, b: 2 }, createRng(1));
  assert.equal(new Set([...partial.a, ...partial.b]).size, 5);
  assert.deepEqual(
    splitIndices(50, { a: 10, b: 10 }, createRng(5)),
    splitIndices(50, { a: 10, b: 10 }, createRng(5)),
  );
});

test('splitIndices with fractions: floors, and fractions summing to 1 cover everything', () => {
  // 0.25·10 = 2.5, 0.25·10 = 2.5, 0.5·10 = 5 → floors 2, 2, 5 and one left over:
  // ties on remainder 0.5 go to the first part: 3, 2, 5.
  const parts = splitIndices(10, { a: 0.25, b: 0.25, c: 0.5 }, createRng(2));
  assert.deepEqual([parts.a.length, parts.b.length, parts.c.length], [3, 2, 5]);
  assert.equal(new Set([...parts.a, ...parts.b, ...parts.c]).size, 10);
  // Not summing to 1: plain floors, 0.3·7 = 2.1 → 2, 0.5·7 = 3.5 → 3.
  const some = splitIndices(7, { a: 0.3, b: 0.5 }, createRng(2));
  assert.deepEqual([some.a.length, some.b.length], [2, 3]);
  const withRest = splitIndices(10, { a: 0.15, rest: 'rest' }, createRng(2));
  assert.deepEqual([withRest.a.length, withRest.rest.length], [1, 9]);
});

test('splitIndices rejects impossible requests', () => {
  const rng = createRng(0);
  assert.throws(() => splitIndices(10, { a: 8, b: 3 }, rng), /asks for 11 samples/);
  assert.throws(() => splitIndices(10, { a: 0.7, b: 0.5 }, rng), /sum to 1.2/);
  assert.throws(() => splitIndices(10, { a: 0.5, b: 3 }, rng), /mix counts and fractions/);
  assert.throws(() => splitIndices(10, { a: -1 }, rng), DatasetError);
  assert.throws(() => splitIndices(10, { a: NaN }, rng), DatasetError);
  assert.throws(() => splitIndices(10, { a: 'rest', b: 'rest' }, rng), /only one/);
  assert.throws(() => splitIndices(10, {}, rng), DatasetError);
});

test('splitDataset gives disjoint named datasets whose rows come from the input', () => {
  const data = toy(20);
  const parts = splitDataset(data, { train: 0.5, test: 0.5 }, createRng(3));
  assert.equal(parts.train.count + parts.test.count, 20);
  const rows = new Set<number>();
  for (const part of [parts.train, parts.test]) {
    for (let i = 0; i < part.count; i++) {
      const row = part.x[2 * i] as number;
      assert.equal(part.x[2 * i + 1], -row);
      assert.equal(part.y[i], row % 3);
      rows.add(row);
    }
  }
  assert.equal(rows.size, 20);
});

test('oneHot, featureSizeOf and checkLabeledData', () => {
  assert.deepEqual(oneHot([2, 0], 3), Float32Array.from([0, 0, 1, 1, 0, 0]));
  assert.throws(() => oneHot([3], 3), /outside 0..2/);
  assert.equal(featureSizeOf(toy(3)), 2);
  assert.throws(
    () => featureSizeOf({ x: new Float32Array(5), y: new Uint8Array(2), count: 2 }),
    /5 values/,
  );
  assert.throws(
    () => featureSizeOf({ x: new Float32Array(4), y: new Uint8Array(3), count: 2 }),
    /3 labels/,
  );
  assert.equal(checkLabeledData(toy(3), { numClasses: 3, featureSize: 2 }), 2);
  assert.throws(() => checkLabeledData(toy(4), { numClasses: 2 }), /label 2 at row 2/);
  const bad = toy(2);
  bad.x[3] = NaN;
  assert.throws(() => checkLabeledData(bad), /feature 1 of row 1 is NaN/);
  assert.equal(checkLabeledData(bad, { finite: false }), 2);
});
