import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DatasetError,
  createCodec,
  decodeProxyInputs,
  encodeProxyInputs,
} from '../../../../shared/index.js';

test('pixel-like inputs travel as one byte each and decode to the nearest 1/255 level', () => {
  // 0.2 → 51/255 exactly; 0.624 → 159/255 = 0.62353 (|Δ| = 4.7e-4 ≤ 1e-3); 1 → 255.
  const x = Float32Array.from([0, 0.2, 0.624, 1, 0.502, 0.329]);
  const artifact = encodeProxyInputs(x, 2, [3]);
  assert.equal(artifact.encoding, 'unorm8');
  assert.deepEqual([...artifact.data], [0, 51, 159, 255, 128, 84]);
  const decoded = decodeProxyInputs(createCodec().decode(createCodec().encode(artifact)));
  assert.equal(decoded.count, 2);
  assert.deepEqual(decoded.featureShape, [3]);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(decoded.x[i]! - x[i]!) <= 1e-3);
  assert.equal(decoded.x[2], Math.fround(159 / 255));
});

test('other inputs travel as float32, exactly', () => {
  // 0.5 lies 0.00196 from the nearest level 128/255: too far for bytes.
  assert.equal(encodeProxyInputs(Float32Array.from([0.5]), 1, [1]).encoding, 'float32');
  const x = Float32Array.from([0.1234, -3, 7.5, 0.0001]);
  const artifact = encodeProxyInputs(x, 1, [2, 2]);
  assert.equal(artifact.encoding, 'float32');
  assert.deepEqual(decodeProxyInputs(artifact).x, x);
});

test('hostile artifacts are refused with DatasetError', () => {
  const good = encodeProxyInputs(new Float32Array(4), 2, [2]);
  const cases: [unknown, RegExp][] = [
    [null, /malformed/],
    [{ ...good, format: 'other' }, /malformed/],
    [{ ...good, count: 3 }, /holds 4 values, its header says 3 × \[2\] = 6/],
    [{ ...good, featureShape: [-1] }, /malformed/],
    [{ ...good, encoding: 'float32' }, /Float32Array/],
    [
      { ...good, encoding: 'float32', data: Float32Array.from([0, NaN, 0, 0]) },
      /proxy input 1 is not finite/,
    ],
    [{ ...good, extra: 1 }, /malformed/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => decodeProxyInputs(value),
      (error: unknown) => error instanceof DatasetError && message.test(error.message),
    );
  }
  assert.throws(
    () => encodeProxyInputs(new Float32Array(5), 2, [2]),
    /5 values, expected 2 × \[2\] = 4/,
  );
});
