import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimConfig, resolveSpec } from '../../sim/config.js';
import { checkSpecsFitData, partitionClients, splitSimData } from '../../sim/data.js';
import { loadDataSource } from '../../node/data/source.js';

test('a simulation on Fashion-MNIST: train split subsampled, test drawn from the test split', () => {
  const config = parseSimConfig({
    data: {
      source: 'fashion-mnist:train',
      testSource: 'fashion-mnist:test',
      total: 1000,
      split: { teacher: 0.4, proxy: 0.2, clients: 0.2, test: 0.1 },
      seed: 5,
    },
    clients: 4,
  });
  const split = splitSimData(config);
  assert.equal(split.teacherTrain.count, 400);
  assert.equal(split.proxy.count, 200);
  assert.equal(split.clientPool.count, 200);
  assert.equal(split.test.count, 100);
  assert.deepEqual(split.inputShape, [28, 28, 1]);
  assert.equal(split.numClasses, 10);
  assert.match(
    split.origin,
    /fashion-mnist:train, 800 of its 60,000 samples; test from fashion-mnist:test \(100 of 10,000\)/,
  );
  // Every test row is a row of the test split.
  const testSplit = loadDataSource('fashion-mnist:test');
  const rows = new Set<string>();
  for (let r = 0; r < testSplit.count; r++)
    rows.add(testSplit.x.subarray(r * 784, (r + 1) * 784).join(','));
  for (let r = 0; r < split.test.count; r++) {
    assert.ok(rows.has(split.test.x.subarray(r * 784, (r + 1) * 784).join(',')), `test row ${r}`);
  }
  // Deterministic from data.seed.
  assert.deepEqual(splitSimData(config).proxy.x, split.proxy.x);
  // A cnn student takes the images' shape.
  const cnn = resolveSpec('cnn', split.inputShape, split.numClasses);
  assert.deepEqual(cnn.inputShape, [28, 28, 1]);
  checkSpecsFitData(split, [['student', cnn]]);
  const partition = partitionClients(config, split.clientPool, 1, split.numClasses);
  assert.equal(
    partition.shards.reduce((n, s) => n + s.count, 0),
    200,
  );
});

test('simulation data errors name the field and the source', () => {
  assert.throws(
    () => splitSimData(parseSimConfig({ data: { source: 'fashion-mnist' } })),
    /holds 2 splits: .*choose one: fashion-mnist:t10k or fashion-mnist:train/,
  );
  assert.throws(
    () => splitSimData(parseSimConfig({ data: { source: 'fashion-mnist:test', total: 20_000 } })),
    /data\.source asks for 20000 samples but fashion-mnist:test .* holds 10000/,
  );
  assert.throws(
    () => splitSimData(parseSimConfig({ data: { source: 'mnist', total: 20_000 } })),
    /data\.total: 20000 is more than the 10000 embedded MNIST digits/,
  );
  assert.throws(() => parseSimConfig({ data: { source: '' } }), /data\.source/);
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-simdata-'));
  try {
    // A CSV folder of 8×8 "images" (64 values, label last), 3 classes.
    mkdirSync(join(dir, 'csv'));
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      lines.push([...Array.from({ length: 64 }, (_, j) => (i * 7 + j) % 256), i % 3].join(','));
    }
    writeFileSync(join(dir, 'csv', 'data.csv'), `${lines.join('\n')}\n`);
    const config = parseSimConfig({
      data: {
        source: join(dir, 'csv'),
        total: 300,
        csv: { labelColumn: -1, normalize: 255, shape: [8, 8, 1] },
      },
      clients: 3,
    });
    const split = splitSimData(config);
    assert.deepEqual(split.inputShape, [8, 8, 1]);
    assert.equal(split.numClasses, 3);
    let max = 0;
    for (const v of split.proxy.x) max = Math.max(max, v);
    assert.ok(max <= 1 && max > 0.9, `normalised: max ${max}`);
    const flat = splitSimData(
      parseSimConfig({ data: { source: join(dir, 'csv'), total: 300, csv: { labelColumn: -1 } } }),
    );
    assert.deepEqual(flat.inputShape, [64]);
    assert.throws(() => resolveSpec('cnn', [63], 3), /cnn needs image data/);
    const mnistSized = resolveSpec(
      { name: 'digits', inputShape: [784], layers: [], numClasses: 10 },
      [784],
      10,
    );
    assert.throws(
      () => checkSpecsFitData(split, [['student', mnistSized]]),
      /simulation data .* has 8×8×1 = 64 values per sample, but student \(digits\) takes 784 = 784/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
