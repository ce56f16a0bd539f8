import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkFitsModel,
  checkSameShape,
  loadDataSource,
  requireLabels,
} from '../../../../node/data/source.js';
import { writeIdxDataset } from '../../../../node/data/write.js';
import { encodeIdx } from '../../../../shared/data/idx.js';

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-source-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('Fashion-MNIST from the Debian package: one split at a time, shape and classes from the files', () => {
  const fashionTest = loadDataSource('fashion-mnist:test');
  assert.equal(fashionTest.count, 10_000);
  assert.deepEqual(fashionTest.inputShape, [28, 28, 1]);
  assert.equal(fashionTest.numClasses, 10);
  assert.equal(fashionTest.x.length, 10_000 * 784);
  assert.match(fashionTest.origin, /t10k-images-idx3-ubyte\.gz/);
  // The same split by its MNIST name, and through the split option.
  assert.equal(loadDataSource('fashion-mnist:t10k').count, 10_000);
  assert.equal(loadDataSource('fashion-mnist', { split: 'test' }).count, 10_000);
  // Pixels are uint8 / 255: every value in 0..1, not all 0.
  let max = 0;
  for (const v of fashionTest.x) max = Math.max(max, v);
  assert.equal(max, 1);
  assert.throws(
    () => loadDataSource('fashion-mnist'),
    /holds 2 splits: t10k \(t10k-images-idx3-ubyte.gz \+ t10k-labels-idx1-ubyte.gz\), train .*choose one: fashion-mnist:t10k or fashion-mnist:train$/,
  );
  assert.throws(() => loadDataSource('fashion-mnist:validation'), /no split 'validation'/);
});

test('the embedded MNIST is a source too, with its image shape', () => {
  const mnist = loadDataSource('mnist', { mnistCount: 100 });
  assert.equal(mnist.count, 100);
  assert.deepEqual(mnist.inputShape, [28, 28, 1]);
  assert.equal(mnist.numClasses, 10);
  assert.throws(() => loadDataSource('mnist:train'), /one split/);
});

test('CSV: label column by name or index, features only for proxy data, a declared image shape', () => {
  withTempDir((dir) => {
    writeFileSync(join(dir, 'data.csv'), 'a,b,c,d,kind\n0,51,102,255,3\n255,0,0,51,1\n');
    const byName = loadDataSource(dir, { csv: { labelColumn: 'kind', normalize: 255 } });
    assert.deepEqual([...(byName.y ?? [])], [3, 1]);
    assert.deepEqual([...byName.x], [0, 0.2, 0.4, 1, 1, 0, 0, 0.2].map(Math.fround));
    assert.deepEqual(byName.inputShape, [4]);
    assert.equal(byName.numClasses, 4);
    const last = loadDataSource(dir, { csv: { labelColumn: -1 }, csvShape: [2, 2, 1] });
    assert.deepEqual(last.inputShape, [2, 2, 1]);
    assert.throws(
      () => loadDataSource(dir, { csv: { labelColumn: -1 }, csvShape: [3, 3, 1] }),
      /data\.csv: rows have 4 features, which shape \[3, 3, 1\] does not hold/,
    );
    // An unlabelled CSV: every column a feature (the proxy set needs no labels).
    writeFileSync(join(dir, 'data.csv'), '1.3105,0.5\n-2,0.25\n');
    assert.throws(() => loadDataSource(dir), /label '1\.3105' is not a non-negative integer/);
    const proxy = loadDataSource(dir, { csv: { labelColumn: null }, labels: 'optional' });
    assert.equal(proxy.y, undefined);
    assert.equal(proxy.numClasses, 0);
    assert.deepEqual([...proxy.x], [1.3105, 0.5, -2, 0.25].map(Math.fround));
    assert.throws(
      () => requireLabels(proxy, '--test-data'),
      /--test-data .*data\.csv.* has no labels/,
    );
    assert.throws(
      () => loadDataSource(dir, { csv: { labelColumn: null } }),
      /data\.csv: read without a label column, but labelled data is needed/,
    );
  });
});

test('IDX images without labels load as unlabelled data when labels are optional', () => {
  withTempDir((dir) => {
    writeFileSync(
      join(dir, 'proxy-images-idx3-ubyte'),
      encodeIdx([2, 1, 2], Uint8Array.of(0, 255, 51, 0)),
    );
    const data = loadDataSource(dir, { labels: 'optional' });
    assert.equal(data.y, undefined);
    assert.deepEqual(data.inputShape, [1, 2, 1]);
    assert.deepEqual([...data.x], [0, 1, 0.2, 0].map(Math.fround));
    assert.throws(
      () => loadDataSource(dir),
      /proxy-images-idx3-ubyte has no labels file beside it/,
    );
  });
});

test('written IDX folders load back to the same values: uint8 pixels and float features', () => {
  withTempDir((dir) => {
    const pixels = {
      x: Float32Array.from([0, 1, 51 / 255, 102 / 255]),
      y: Uint8Array.of(2, 0),
      count: 2,
    };
    const files = writeIdxDataset(join(dir, 'a'), pixels, [1, 2, 1]);
    assert.deepEqual(files, ['images-idx3-ubyte', 'labels-idx1-ubyte']);
    const back = loadDataSource(join(dir, 'a'));
    assert.deepEqual(back.x, pixels.x);
    assert.deepEqual([...(back.y ?? [])], [2, 0]);
    assert.deepEqual(back.inputShape, [1, 2, 1]);
    // Not pixels: stored as float32, loaded unscaled.
    const floats = { x: Float32Array.from([0.5, -1.25, 3, 7]), y: Uint8Array.of(1, 1), count: 2 };
    writeIdxDataset(join(dir, 'b'), floats, [2]);
    const floatsBack = loadDataSource(join(dir, 'b'));
    assert.deepEqual(floatsBack.x, floats.x);
    assert.deepEqual(floatsBack.inputShape, [2]);
  });
});

test('bad data gets a DatasetError naming the file: truncated IDX, ragged CSV, no data, mixed shapes', () => {
  withTempDir((dir) => {
    const images = encodeIdx([3, 2, 2], new Uint8Array(12));
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), images.subarray(0, images.length - 2));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), encodeIdx([3], Uint8Array.of(1, 2, 3)));
    assert.throws(
      () => loadDataSource(dir),
      /train-images-idx3-ubyte: IDX header declares dims \[3, 2, 2\] of uint8 = 12 data bytes, but 10/,
    );
  });
  withTempDir((dir) => {
    writeFileSync(join(dir, 'train.csv'), '1,0.5,0.5\n0,0.25\n');
    assert.throws(
      () => loadDataSource(dir),
      /train\.csv: CSV line 2 has 2 cells, expected 3 \(as on line 1\)/,
    );
  });
  withTempDir((dir) => {
    writeFileSync(join(dir, 'README'), 'x');
    // PNG and JPEG files are read (test/unit/node/data/imageFolder.test.ts); GIFs are not.
    writeFileSync(join(dir, 'photo.gif'), 'x');
    assert.throws(() => loadDataSource(dir), /has no recognised data: .*found README, photo\.gif/);
    assert.throws(() => loadDataSource(join(dir, 'nowhere')), /nowhere: no such folder/);
    assert.throws(() => loadDataSource(join(dir, 'README')), /is a file; name the folder/);
  });
  withTempDir((dir) => {
    writeIdxDataset(
      join(dir, 'small'),
      { x: new Float32Array(8), y: Uint8Array.of(0, 1), count: 2 },
      [2, 2, 1],
    );
    writeIdxDataset(
      join(dir, 'big'),
      { x: new Float32Array(18), y: Uint8Array.of(0, 1), count: 2 },
      [3, 3, 1],
    );
    const small = loadDataSource(join(dir, 'small'));
    const big = loadDataSource(join(dir, 'big'));
    checkSameShape([
      { role: '--proxy-data', data: small },
      { role: '--test-data', data: small },
    ]);
    // Flat rows of as many values fit images (an unlabelled CSV proxy set beside IDX test images).
    checkSameShape([
      { role: '--test-data', data: small },
      { role: '--proxy-data', data: { ...small, inputShape: [4] } },
    ]);
    assert.throws(
      () =>
        checkSameShape([
          { role: '--test-data', data: small },
          { role: '--proxy-data', data: { ...small, inputShape: [1, 4, 1] } },
        ]),
      /has 1×4×1 inputs, but --test-data .* has 2×2×1/,
    );
    assert.throws(
      () =>
        checkSameShape([
          { role: '--proxy-data', data: small },
          { role: '--test-data', data: big },
        ]),
      /--test-data .*big.* has 3×3×1 inputs, but --proxy-data .*small.* has 2×2×1/,
    );
    checkFitsModel(small, 'client data', { name: 'mlp', inputShape: [4], numClasses: 2 });
    assert.throws(
      () =>
        checkFitsModel(big, 'client data', {
          name: 'cnn-8',
          inputShape: [28, 28, 1],
          numClasses: 10,
        }),
      /client data .*big.* has 3×3×1 = 9 values per sample, but cnn-8 takes 28×28×1 = 784/,
    );
    assert.throws(
      () => checkFitsModel(small, 'test data', { name: 'mlp', inputShape: [4], numClasses: 1 }),
      /labels up to 1, but mlp has 1 classes/,
    );
  });
});
