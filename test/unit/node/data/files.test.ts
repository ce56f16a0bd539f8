import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readCsvFile, readIdxFiles } from '../../../../node/data/files.js';
import { loadDataDir } from '../../../../node/data/source.js';
import { DatasetError } from '../../../../shared/errors.js';

/** IDX bytes: 00 00 type ndims, big-endian uint32 dims, body. */
function idx(type: number, dims: number[], body: ArrayLike<number>): Uint8Array {
  const header = [0, 0, type, dims.length];
  for (const d of dims) header.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...header, ...Array.from(body)]);
}

// 3 images of 2×2: pixels 0..11 ×10 → values i·10/255; labels 4, 0, 9.
const pixels = Array.from({ length: 12 }, (_, i) => i * 10);
const imagesBytes = idx(0x08, [3, 2, 2], pixels);
const labelsBytes = idx(0x08, [3], [4, 0, 9]);
const expectedX = Float32Array.from(pixels, (p) => p / 255);

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fedistill-data-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('IDX pair round-trips, plain and gzipped', () => {
  withTempDir((dir) => {
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), imagesBytes);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labelsBytes);
    writeFileSync(join(dir, 'images.gz'), gzipSync(imagesBytes));
    writeFileSync(join(dir, 'labels.gz'), gzipSync(labelsBytes));
    const plain = readIdxFiles(
      join(dir, 'train-images-idx3-ubyte'),
      join(dir, 'train-labels-idx1-ubyte'),
    );
    const gz = readIdxFiles(join(dir, 'images.gz'), join(dir, 'labels.gz'));
    for (const data of [plain, gz]) {
      assert.equal(data.count, 3);
      assert.deepEqual(data.x, expectedX);
      assert.deepEqual([...data.y], [4, 0, 9]);
    }
  });
});

test('loadDataDir finds an IDX pair (gzipped; a full download needs its split named) or data.csv', () => {
  withTempDir((dir) => {
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(imagesBytes));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(labelsBytes));
    writeFileSync(join(dir, 'README.txt'), 'private digits');
    assert.deepEqual([...loadDataDir(dir).y], [4, 0, 9]);
    // A full MNIST download also has the t10k pair: no split is picked silently.
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx(0x08, [1, 2, 2], [1, 2, 3, 4]));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [1], [1]));
    assert.throws(
      () => loadDataDir(dir),
      /holds 2 splits: t10k .*, train .*; choose one: .*:t10k or .*:train/,
    );
    assert.equal(loadDataDir(`${dir}:train`).count, 3);
    assert.equal(loadDataDir(dir, { split: 'test' }).count, 1);
  });
  withTempDir((dir) => {
    writeFileSync(join(dir, 'data.csv'), 'label,a,b\n2,0.5,1\n7,0,0.25\n');
    const data = loadDataDir(dir);
    assert.deepEqual([...data.y], [2, 7]);
    assert.deepEqual([...data.x], [0.5, 1, 0, 0.25]);
    const scaled = loadDataDir(dir, { csv: { normalize: 0.5 } });
    assert.deepEqual([...scaled.x], [1, 2, 0, 0.5]);
  });
});

test('loadDataDir and readers give DatasetError naming the problem and the file', () => {
  withTempDir((dir) => {
    writeFileSync(join(dir, 'notes.txt'), 'nothing here');
    assert.throws(() => loadDataDir(dir), /has no recognised data.*found notes.txt/);
    assert.throws(() => loadDataDir(join(dir, 'missing')), /missing: no such folder/);
    writeFileSync(join(dir, 'data.csv'), '1,2\n0,x\n');
    assert.throws(
      () => loadDataDir(dir),
      (e: unknown) => {
        assert.ok(e instanceof DatasetError);
        assert.match(e.message, /data\.csv: CSV line 2, column 2: 'x' is not a number/);
        return true;
      },
    );
    assert.throws(() => readCsvFile(join(dir, 'nope.csv')), /cannot read/);
    writeFileSync(join(dir, 'a-images-idx3-ubyte'), imagesBytes);
    writeFileSync(join(dir, 'a-labels-idx1-ubyte'), labelsBytes);
    assert.throws(() => loadDataDir(dir), /holds 2 splits: a \(a-images.*\), data \(data.csv\)/);
    rmSync(join(dir, 'data.csv'));
    writeFileSync(join(dir, 'b-images-idx3-ubyte'), imagesBytes);
    writeFileSync(join(dir, 'b-labels-idx1-ubyte'), labelsBytes);
    assert.throws(() => loadDataDir(dir), /holds 2 splits/);
    // Truncated IDX file: error names the file and the byte counts.
    writeFileSync(join(dir, 'short-images'), imagesBytes.subarray(0, imagesBytes.length - 1));
    assert.throws(
      () => readIdxFiles(join(dir, 'short-images'), join(dir, 'a-labels-idx1-ubyte')),
      /short-images: IDX header declares dims \[3, 2, 2\] of uint8 = 12 data bytes, but 11/,
    );
    // Corrupt gzip.
    writeFileSync(join(dir, 'bad.gz'), Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    assert.throws(() => readIdxFiles(join(dir, 'bad.gz'), join(dir, 'bad.gz')), /cannot gunzip/);
  });
});
