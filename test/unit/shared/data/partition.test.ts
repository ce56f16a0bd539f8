import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describePartition,
  labelHistogram,
  labelSkew,
  partitionDirichlet,
  partitionIid,
  partitionShards,
} from '../../../../shared/data/partition.js';
import { createRng } from '../../../../shared/data/rng.js';
import { DatasetError } from '../../../../shared/errors.js';
import { loadMnist } from '../../../../node/data/mnist.js';

/** Every index 0..n-1 in exactly one part; each part sorted ascending. */
function assertDisjointCover(parts: readonly Int32Array[], n: number): void {
  const seen = new Uint8Array(n);
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      const index = part[i] as number;
      assert.ok(index >= 0 && index < n, `index ${index} out of range`);
      assert.equal(seen[index], 0, `index ${index} dealt twice`);
      seen[index] = 1;
      if (i > 0) assert.ok(index > (part[i - 1] as number), 'part not sorted');
    }
  }
  assert.equal(
    seen.reduce((a, b) => a + b, 0),
    n,
    'not every index dealt',
  );
}

// Small synthetic labels: 10 classes, sizes 30..57 (not multiples of any shard size).
const synthetic = Uint8Array.from(
  Array.from({ length: 10 }, (_, k) => Array.from({ length: 30 + 3 * k }, () => k)).flat(),
);

test('every partitioner is a disjoint cover of all indices', () => {
  const n = synthetic.length;
  for (const seed of [1, 2, 3]) {
    const rng = createRng(seed);
    assertDisjointCover(partitionIid(synthetic, 7, rng), n);
    assertDisjointCover(partitionDirichlet(synthetic, 7, 0.1, rng), n);
    assertDisjointCover(partitionDirichlet(synthetic, 7, 0.5, rng, { minPerClient: 5 }), n);
    assertDisjointCover(partitionShards(synthetic, 7, 2, rng), n);
    assertDisjointCover(partitionShards(synthetic, 3, 1, rng), n); // fewer shards than classes
    assertDisjointCover(partitionShards(synthetic, 50, 3, rng), n); // many shards per class
  }
});

test('partitions are deterministic per seed', () => {
  const same = (a: Int32Array[], b: Int32Array[]) => assert.deepEqual(a, b);
  same(partitionIid(synthetic, 5, createRng(9)), partitionIid(synthetic, 5, createRng(9)));
  same(
    partitionDirichlet(synthetic, 5, 0.3, createRng(9)),
    partitionDirichlet(synthetic, 5, 0.3, createRng(9)),
  );
  same(
    partitionShards(synthetic, 5, 2, createRng(9)),
    partitionShards(synthetic, 5, 2, createRng(9)),
  );
  assert.notDeepEqual(
    partitionIid(synthetic, 5, createRng(9)),
    partitionIid(synthetic, 5, createRng(10)),
  );
});

test('IID client sizes differ by at most one', () => {
  const sizes = partitionIid(synthetic, 7, createRng(0)).map((p) => p.length);
  // 435 samples / 7 = 62.1 → sizes 62 or 63.
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
});

test('label skew on real MNIST labels: IID small, Dirichlet 0.1 large, α=100 small, shards ≤ 2 classes', (t) => {
  const { y } = loadMnist();
  const rng = createRng(2024);
  const numClients = 10;

  const iid = labelSkew(y, partitionIid(y, numClients, rng), 10);
  const dir01 = labelSkew(y, partitionDirichlet(y, numClients, 0.1, rng, { minPerClient: 10 }), 10);
  const dir100 = labelSkew(y, partitionDirichlet(y, numClients, 100, rng), 10);
  const shardParts = partitionShards(y, numClients, 2, rng);
  const shards = labelSkew(y, shardParts, 10);
  assertDisjointCover(shardParts, y.length);

  // One diagnostic per line: the TAP reporter escapes newlines inside one.
  const show = (title: string, summary: typeof iid) => {
    t.diagnostic(`${title} — ${describePartition(summary).split('\n')[0]}`);
    for (const line of describePartition(summary).split('\n').slice(1)) t.diagnostic(line);
  };
  show('IID', iid);
  show('Dirichlet alpha=0.1', dir01);
  show('Dirichlet alpha=100', dir100);
  show('shards, 2 per client', shards);

  assert.ok(iid.mean < 0.1, `IID skew ${iid.mean}`);
  assert.ok(dir01.mean > 0.5, `Dirichlet 0.1 skew ${dir01.mean}`);
  assert.ok(dir100.mean < 0.1, `Dirichlet 100 skew ${dir100.mean}`);
  assert.ok(shards.mean > 0.5, `shard skew ${shards.mean}`);
  for (const k of shards.classesPerClient) assert.ok(k <= 2, `a shard client holds ${k} classes`);
  assert.ok(Math.min(...dir01.sizes) >= 10);
  // Ordering of the skews is the point of the knob.
  assert.ok(iid.mean < dir100.mean + 0.05 && dir100.mean < dir01.mean);
});

test('labelHistogram and labelSkew: hand-computed values', () => {
  const labels = [0, 0, 1, 1, 2, 2];
  assert.deepEqual(labelHistogram(labels, [0, 2, 3], 3), Int32Array.from([1, 2, 0]));
  assert.deepEqual(labelHistogram(labels, undefined, 3), Int32Array.from([2, 2, 2]));
  const s = labelSkew(labels, [[0, 1], [2, 3, 4, 5], []]);
  // Global [1/3,1/3,1/3]. Client 0: [1,0,0] → TV = ½(2/3 + 1/3 + 1/3) = 2/3.
  // Client 1: [0,½,½] → TV = ½(1/3 + 1/6 + 1/6) = 1/3. Client 2 empty → NaN, not averaged.
  assert.ok(Math.abs((s.perClient[0] as number) - 2 / 3) < 1e-12);
  assert.ok(Math.abs((s.perClient[1] as number) - 1 / 3) < 1e-12);
  assert.ok(Number.isNaN(s.perClient[2]));
  assert.ok(Math.abs(s.mean - 0.5) < 1e-12);
  assert.ok(Math.abs(s.max - 2 / 3) < 1e-12);
  assert.deepEqual(s.classesPerClient, [1, 2, 0]);
  assert.deepEqual(s.sizes, [2, 4, 0]);
  assert.throws(() => labelHistogram(labels, [9], 3), DatasetError);
  assert.throws(() => labelHistogram([0, 5], undefined, 3), DatasetError);
});

test('bad arguments and impossible constraints throw DatasetError', () => {
  const rng = createRng(0);
  assert.throws(() => partitionIid([0, 1], 3, rng), /cannot deal 2 samples to 3 clients/);
  assert.throws(() => partitionIid([0, -1], 1, rng), /non-negative integers/);
  assert.throws(() => partitionIid([0, 1.5], 1, rng), DatasetError);
  assert.throws(() => partitionIid([0, 1], 0, rng), DatasetError);
  assert.throws(() => partitionDirichlet(synthetic, 3, 0, rng), /alpha/);
  assert.throws(() => partitionDirichlet(synthetic, 3, NaN, rng), /alpha/);
  assert.throws(() => partitionDirichlet([0, 1, 2], 2, 1, rng, { minPerClient: 2 }), DatasetError);
  // Two classes, 2 samples each; α tiny puts each class on one client, so 4 clients
  // can never all get a sample: it must give up after maxAttempts, not loop.
  assert.throws(
    () => partitionDirichlet([0, 0, 1, 1], 4, 0.001, rng, { maxAttempts: 5 }),
    /in all 5 attempts/,
  );
  assert.throws(() => partitionShards([0, 1, 2], 2, 2, rng), /cannot deal 3 samples to 4 shards/);
  assert.throws(() => partitionShards([0, 1, 2], 1, 0, rng), DatasetError);
});
