import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodecError, DistillationInputError } from '../../../../shared/errors.js';
import {
  FEATURE_SET_FORMAT,
  decodeFeatures,
  encodeFeatures,
} from '../../../../shared/features/index.js';
import type { FeatureSet } from '../../../../shared/features/index.js';
import { createCodec } from '../../../../shared/codec/index.js';
import { joinAcceptedSchema } from '../../../../shared/protocol/schemas.js';

const { encode, decode } = createCodec();

function rows(count: number, width: number, seed: number, scale = 3): Float32Array {
  const out = new Float32Array(count * width);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

function maxAbsError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function codecError(f: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(f, (error: unknown) => {
    assert.ok(error instanceof CodecError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

test('uint8 per-row quantisation: hand-computed levels, error within half a step of each row', () => {
  // Row 0: min −1, max 1.55, step 2.55/255 = 0.01 → levels 0, 100, 255.
  // Row 1: constant 4 → scale 0, levels 0, decodes exactly.
  const values = new Float32Array([-1, 0, 1.55, 4, 4, 4]);
  const set = encodeFeatures(values, { width: 3, layer: 'penultimate', precision: 'uint8' });
  assert.deepEqual(Array.from(set.values), [0, 100, 255, 0, 0, 0]);
  assert.deepEqual(Array.from(set.offsets!), [-1, 4]);
  assert.ok(Math.abs(set.scales![0]! - 0.01) < 1e-7);
  assert.equal(set.scales![1], 0);
  const decoded = decodeFeatures(set);
  assert.deepEqual(
    Array.from(decoded.values, (v) => Math.round(v * 1e5) / 1e5 + 0),
    [-1, 0, 1.55, 4, 4, 4],
  );

  const big = rows(50, 16, 1);
  const q = decodeFeatures(encodeFeatures(big, { width: 16, layer: 'l', precision: 'uint8' }));
  for (let r = 0; r < 50; r++) {
    const row = big.subarray(r * 16, (r + 1) * 16);
    const halfStep = (Math.max(...row) - Math.min(...row)) / 255 / 2;
    const err = maxAbsError(row, q.values.subarray(r * 16, (r + 1) * 16));
    assert.ok(err <= halfStep * 1.0001 + 1e-6, `row ${r}: error ${err} > half step ${halfStep}`);
  }
});

test('float16 and float32 round trips through the msgpack codec; float16 halves the bytes, uint8 quarters them plus 8 bytes a row', () => {
  const x = rows(64, 32, 2);
  const sizes: Record<string, number> = {};
  for (const precision of ['float32', 'float16', 'uint8'] as const) {
    const set = encodeFeatures(x, { width: 32, layer: 'dense_1', precision });
    const bytes = encode(set);
    sizes[precision] = bytes.byteLength;
    const back = decodeFeatures(decode(bytes));
    assert.equal(back.count, 64);
    assert.equal(back.width, 32);
    assert.equal(back.layer, 'dense_1');
    const err = maxAbsError(x, back.values);
    if (precision === 'float32') assert.equal(err, 0);
    if (precision === 'float16') assert.ok(err <= 3 * 2 ** -11, `float16 error ${err}`);
    if (precision === 'uint8') assert.ok(err <= 6 / 255 / 2 + 1e-6, `uint8 error ${err}`);
  }
  assert.ok(sizes.float16! < 0.52 * sizes.float32!, JSON.stringify(sizes));
  assert.ok(sizes.float32! >= 64 * 32 * 4, JSON.stringify(sizes));
  assert.ok(sizes.uint8! < 64 * 32 + 64 * 8 + 200, JSON.stringify(sizes));
  // The same input encodes to the same bytes: the coordinator's content hash is stable.
  const once = encode(encodeFeatures(x, { width: 32, layer: 'l' }));
  const twice = encode(encodeFeatures(x, { width: 32, layer: 'l' }));
  assert.deepEqual(once, twice);
});

test('encodeFeatures refuses bad input; decodeFeatures refuses what a peer could send', () => {
  assert.throws(
    () => encodeFeatures(new Float32Array(5), { width: 2, layer: 'l' }),
    DistillationInputError,
  );
  assert.throws(
    () => encodeFeatures(new Float32Array([1, Number.NaN]), { width: 2, layer: 'l' }),
    /values\[1\] \(row 0\) = NaN is not finite/,
  );
  assert.throws(
    () => encodeFeatures(new Float32Array([1, 70000]), { width: 2, layer: 'l' }),
    /beyond float16/,
  );
  assert.throws(() => encodeFeatures(new Float32Array(2), { width: 2, layer: '' }), /layer/);

  const good = encodeFeatures(rows(4, 3, 3), { width: 3, layer: 'l', precision: 'uint8' });
  const tamper = (over: Partial<Record<keyof FeatureSet, unknown>>): unknown => ({
    ...good,
    ...over,
  });
  codecError(() => decodeFeatures(null), 'wrong-type', /expected an object/);
  codecError(() => decodeFeatures(tamper({ format: 'x' })), 'wrong-type', /unknown format/);
  codecError(() => decodeFeatures(tamper({ precision: 'int4' })), 'wrong-type', /precision/);
  codecError(() => decodeFeatures(tamper({ width: 0 })), 'malformed', /bad width/);
  codecError(() => decodeFeatures(tamper({ count: -1 })), 'malformed', /bad count/);
  codecError(() => decodeFeatures(tamper({ count: 5 })), 'malformed', /values has length 12/);
  codecError(
    () => decodeFeatures(tamper({ values: new Float32Array(12) })),
    'wrong-type',
    /values must be a Uint8Array/,
  );
  codecError(() => decodeFeatures(tamper({ scales: undefined })), 'wrong-type', /scales/);
  codecError(
    () => decodeFeatures(tamper({ scales: new Float32Array([1, -1, 1, 1]) })),
    'malformed',
    /row 1 scale -1 < 0/,
  );
  codecError(
    () => decodeFeatures(tamper({ offsets: new Float32Array([0, Infinity, 0, 0]) })),
    'non-finite',
    /row 1/,
  );
  const half = encodeFeatures(rows(2, 2, 4), { width: 2, layer: 'l', precision: 'float16' });
  codecError(
    () => decodeFeatures({ ...half, values: new Uint16Array([0, 0x7c00, 0, 0]) }),
    'non-finite',
    /value 1 is Infinity/,
  );
  codecError(
    () => decodeFeatures(good, { maxElements: 11 }),
    'too-large',
    /4×3 values exceed the limit of 11/,
  );
  assert.equal(good.format, FEATURE_SET_FORMAT);
});

test('the join response may carry a teacher-features artifact reference', () => {
  const accepted = {
    ok: true,
    clientId: 'c1',
    rejoinSecret: 'x'.repeat(16),
    runId: 'r',
    protocolVersion: 1,
    model: { spec: { inputShape: [4], layers: [], numClasses: 2 }, numParams: 10 },
    proxyInputs: { url: '/a/1', hash: 'h'.repeat(64), bytes: 10 },
    softLabels: { url: '/a/2', hash: 'g'.repeat(64), bytes: 10, temperature: 3 },
  };
  assert.equal(joinAcceptedSchema.parse(accepted).teacherFeatures, undefined);
  const teacherFeatures = {
    url: '/a/3',
    hash: 'f'.repeat(64),
    bytes: 100,
    width: 128,
    layer: 'penultimate',
    precision: 'float16',
  };
  assert.deepEqual(
    joinAcceptedSchema.parse({ ...accepted, teacherFeatures }).teacherFeatures,
    teacherFeatures,
  );
  assert.equal(
    joinAcceptedSchema.safeParse({ ...accepted, teacherFeatures: { ...teacherFeatures, width: 0 } })
      .success,
    false,
  );
  assert.equal(
    joinAcceptedSchema.safeParse({
      ...accepted,
      teacherFeatures: { ...teacherFeatures, precision: 'int8' },
    }).success,
    false,
  );
});
