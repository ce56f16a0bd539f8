import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idxToLabeledData, parseIdx } from '../../../../shared/data/idx.js';
import { DatasetError } from '../../../../shared/errors.js';

/** An IDX file: magic 00 00 type ndims, big-endian uint32 dims, then the body bytes. */
function idx(type: number, dims: number[], body: number[]): Uint8Array {
  const header = [0, 0, type, dims.length];
  for (const d of dims) header.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...header, ...body]);
}

test('parses u8 images [2,2,3] and keeps dims', () => {
  const body = Array.from({ length: 12 }, (_, i) => i * 20);
  const t = parseIdx(idx(0x08, [2, 2, 3], body));
  assert.deepEqual(t.dims, [2, 2, 3]);
  assert.ok(t.data instanceof Uint8Array);
  assert.deepEqual([...t.data], body);
});

test('parses every numeric type big-endian', () => {
  // int8: 0xFF = -1, 0x7F = 127.
  assert.deepEqual([...parseIdx(idx(0x09, [2], [0xff, 0x7f])).data], [-1, 127]);
  // int16: 0x0102 = 258, 0xFFFE = -2.
  assert.deepEqual([...parseIdx(idx(0x0b, [2], [1, 2, 0xff, 0xfe])).data], [258, -2]);
  // int32: 0x00010000 = 65536, 0xFFFFFFFF = -1.
  assert.deepEqual(
    [...parseIdx(idx(0x0c, [2], [0, 1, 0, 0, 255, 255, 255, 255])).data],
    [65536, -1],
  );
  // float32 1.5 = 0x3FC00000; float64 -2.25 = 0xC002000000000000.
  const f32 = parseIdx(idx(0x0d, [1], [0x3f, 0xc0, 0, 0]));
  assert.ok(f32.data instanceof Float32Array);
  assert.deepEqual([...f32.data], [1.5]);
  const f64 = parseIdx(idx(0x0e, [1], [0xc0, 0x02, 0, 0, 0, 0, 0, 0]));
  assert.ok(f64.data instanceof Float64Array);
  assert.deepEqual([...f64.data], [-2.25]);
});

test('works on a view into a larger buffer (byteOffset ≠ 0)', () => {
  const file = idx(0x0b, [1], [0x01, 0x00]);
  const padded = new Uint8Array(file.length + 3);
  padded.set(file, 3);
  assert.deepEqual([...parseIdx(padded.subarray(3)).data], [256]);
});

test('hostile or broken bytes give DatasetError naming the numbers', () => {
  assert.throws(() => parseIdx(new Uint8Array(0)), /0 bytes/);
  assert.throws(() => parseIdx(Uint8Array.from([0, 0, 8])), /3 bytes/);
  assert.throws(
    () => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0])),
    /magic starts 0x01 0x00/,
  );
  assert.throws(() => parseIdx(Uint8Array.from([0x1f, 0x8b, 8, 0])), /gzip/);
  assert.throws(() => parseIdx(idx(0x0a, [1], [0])), /unknown IDX type byte 0x0A/);
  assert.throws(() => parseIdx(Uint8Array.from([0, 0, 8, 0])), /0 dimensions/);
  // Declares 3 dims but stops after one.
  assert.throws(
    () => parseIdx(Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1])),
    /3 dimensions \(16 header bytes\).*8 bytes/,
  );
  // Short body: [2,3] u8 = 6 bytes, 5 given.
  assert.throws(
    () => parseIdx(idx(0x08, [2, 3], [1, 2, 3, 4, 5])),
    /dims \[2, 3\] of uint8 = 6 data bytes, but 5 bytes/,
  );
  // Trailing garbage is refused too.
  assert.throws(() => parseIdx(idx(0x08, [2], [1, 2, 3])), /= 2 data bytes, but 3/);
  // int32 [1] needs 4 bytes.
  assert.throws(() => parseIdx(idx(0x0c, [1], [0, 0])), /int32 = 4 data bytes, but 2/);
  // Huge declared dims must not allocate: 0xFFFFFFFF² elements.
  assert.throws(() => parseIdx(idx(0x0e, [0xffffffff, 0xffffffff, 0xffffffff], [])), DatasetError);
});

test('idxToLabeledData normalises /255 and checks counts and labels', () => {
  const images = parseIdx(idx(0x08, [2, 2], [0, 255, 51, 102]));
  const labels = parseIdx(idx(0x08, [2], [7, 3]));
  const data = idxToLabeledData(images, labels);
  assert.equal(data.count, 2);
  // 51/255 = 0.2, 102/255 = 0.4.
  assert.deepEqual([...data.x], [0, 1, Math.fround(0.2), Math.fround(0.4)]);
  assert.deepEqual([...data.y], [7, 3]);
  assert.deepEqual(
    [...idxToLabeledData(images, labels, { normalize: false }).x],
    [0, 255, 51, 102],
  );
  assert.deepEqual([...idxToLabeledData(images, labels, { normalize: 51 }).x], [0, 5, 1, 2]);
  const wide = idxToLabeledData(images, parseIdx(idx(0x0c, [2], [0, 0, 1, 0, 0, 0, 0, 1])));
  assert.ok(wide.y instanceof Int32Array);
  assert.deepEqual([...wide.y], [256, 1]);
  assert.throws(
    () => idxToLabeledData(images, parseIdx(idx(0x08, [3], [1, 2, 3]))),
    /2 samples but labels hold 3/,
  );
  assert.throws(
    () => idxToLabeledData(images, parseIdx(idx(0x09, [2], [0, 0xff]))),
    /label 1 is -1/,
  );
  assert.throws(
    () => idxToLabeledData(images, parseIdx(idx(0x0d, [2], [0, 0, 0, 0, 0x3f, 0xc0, 0, 0]))),
    /1.5/,
  );
  assert.throws(() => idxToLabeledData(images, images), /1-D/);
  assert.throws(() => idxToLabeledData(images, labels, { normalize: 0 }), DatasetError);
});
