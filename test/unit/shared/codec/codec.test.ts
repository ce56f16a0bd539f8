import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { CodecError } from '../../../../shared/errors.js';
import {
  DEFAULT_DECODE_LIMITS,
  createCodec,
  resolveDecodeLimits,
} from '../../../../shared/codec/index.js';
import { expectCodecError, mp, mulberry32 } from './helpers.js';

const codec = createCodec();
const bytes = (list: number[]): Uint8Array => new Uint8Array(list);

test('nested objects with typed arrays round-trip with the same typed-array types', () => {
  const value = {
    name: 'round 3 ✓ ünïcode',
    n: 42,
    neg: -7,
    big: 2 ** 40,
    float: 0.1,
    flag: true,
    nothing: null,
    missing: undefined,
    empty: { list: [], map: {} },
    weights: new Float32Array([1.5, -2.25, 3.4028234663852886e38, -0]),
    halves: new Uint16Array([0x3c00, 0x7bff]),
    q: new Int8Array([-127, 0, 127]),
    bytes: new Uint8Array([0, 255, 7]),
    ints: new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    doubles: new Float64Array([Math.PI]),
    nested: [[{ deep: [new Float32Array([7])] }]],
    when: new Date(1_700_000_000_000),
  };
  const back = codec.decode(codec.encode(value)) as typeof value;
  assert.deepEqual(back, value);
  for (const key of ['weights', 'halves', 'q', 'bytes', 'ints', 'doubles'] as const) {
    assert.equal(back[key].constructor, value[key].constructor, key);
  }
  assert.ok(Object.is(back.weights[3], -0));
  assert.ok(back.nested[0]?.[0]?.deep[0] instanceof Float32Array);
});

test('a 1M-element Float32Array round-trips bit-exactly; decoded arrays are aligned copies', () => {
  const rng = mulberry32(1);
  const big = Float32Array.from({ length: 1 << 20 }, () => rng() * 2 - 1);
  const encoded = codec.encode({ w: big });
  assert.ok(encoded.byteLength < 4 * big.length + 64);
  assert.equal(encoded.constructor, Uint8Array);

  // Decode from a view at an odd offset (as a socket frame might be).
  const shifted = new Uint8Array(encoded.byteLength + 1);
  shifted.set(encoded, 1);
  const view = shifted.subarray(1);
  const back = (codec.decode(view) as { w: Float32Array }).w;
  assert.ok(back instanceof Float32Array);
  assert.equal(back.byteOffset % 4, 0);
  assert.deepEqual(
    new Uint32Array(back.buffer, back.byteOffset, back.length),
    new Uint32Array(big.buffer),
  );
  // Not a view into the input: scribbling over the input leaves the result intact.
  shifted.fill(0);
  assert.equal(back[0], big[0]);
});

test('decode accepts Buffer and ArrayBuffer input; bins come back as plain Uint8Array', () => {
  const packr = new Packr({ useRecords: false }); // plain msgpack, as another language would write it
  const raw = packr.pack({ bin: Buffer.from([1, 2, 3]) }); // bin8
  const fromBuffer = codec.decode(raw) as { bin: Uint8Array };
  assert.equal(fromBuffer.bin.constructor, Uint8Array);
  assert.deepEqual([...fromBuffer.bin], [1, 2, 3]);
  const ab = new Uint8Array(raw).buffer; // a fresh ArrayBuffer of exactly these bytes
  assert.deepEqual(codec.decode(ab), fromBuffer);
  raw.fill(0);
  assert.deepEqual([...fromBuffer.bin], [1, 2, 3], 'bins are copies, not views');
});

test('maxBytes is enforced before decoding (and on encode)', () => {
  const small = createCodec({ maxBytes: 100 });
  // 101 bytes of garbage: rejected as too large, not as malformed — nothing was parsed.
  expectCodecError(() => small.decode(new Uint8Array(101).fill(0xc1)), 'too-large', 'decode');
  expectCodecError(() => small.encode('x'.repeat(200)), 'too-large', 'encode');
  assert.equal(small.decode(small.encode('x'.repeat(50))), 'x'.repeat(50));
});

test('truncated and malformed bytes → CodecError malformed', () => {
  const full = codec.encode({
    a: [1, 'two', { three: new Float32Array([3]) }],
    b: 'x'.repeat(40),
    c: 1.5,
  });
  for (let cut = 0; cut < full.length; cut++) {
    expectCodecError(
      () => codec.decode(full.subarray(0, cut)),
      'malformed',
      `prefix of ${cut} bytes`,
    );
  }
  expectCodecError(() => codec.decode(bytes([0xc1])), 'malformed', 'reserved 0xc1');
  expectCodecError(() => codec.decode(bytes([0x01, 0x02])), 'malformed', 'trailing bytes');
  expectCodecError(() => codec.decode(bytes([0xcb, 0, 0])), 'malformed', 'short float64');
  // A Float32 typed array (code 7) with 5 data bytes is not a whole number of elements.
  expectCodecError(
    () => codec.decode(bytes([0xc7, 6, 0x74, 7, 0, 0, 0, 0, 0])),
    'malformed',
    'ragged typed array',
  );
});

test('random bytes never escape as anything but a CodecError', () => {
  const rng = mulberry32(2);
  let rejected = 0;
  for (let i = 0; i < 5000; i++) {
    const len = 1 + Math.floor(rng() * 48);
    const input = Uint8Array.from({ length: len }, () => Math.floor(rng() * 256));
    try {
      codec.decode(input);
    } catch (error) {
      assert.ok(error instanceof CodecError, `non-CodecError ${String(error)} for ${[...input]}`);
      rejected++;
    }
  }
  assert.ok(rejected > 2500, `most random inputs should be rejected (${rejected})`);
});

test('huge declared lengths are rejected before any allocation', () => {
  const n = 2 ** 31;
  // array32 / map32 headers over the element limits → too-large.
  expectCodecError(() => codec.decode(bytes([0xdd, ...mp.u32(n)])), 'too-large', 'array32 2^31');
  expectCodecError(() => codec.decode(bytes([0xdf, ...mp.u32(n)])), 'too-large', 'map32 2^31');
  // With the element limits raised, the header still claims more than the bytes left → malformed.
  const lax = createCodec({ maxArrayLength: 2 ** 32, maxKeys: 2 ** 32 });
  expectCodecError(() => lax.decode(bytes([0xdd, ...mp.u32(n), 1, 2])), 'malformed', 'array32 lax');
  expectCodecError(
    () => lax.decode(bytes([0xdf, ...mp.u32(n), 0xa0, 1])),
    'malformed',
    'map32 lax',
  );
  expectCodecError(
    () => codec.decode(bytes([0xdb, ...mp.u32(n), 0x61])),
    'malformed',
    'str32 2^31',
  );
  expectCodecError(
    () => codec.decode(bytes([0xc6, ...mp.u32(n), 0x00])),
    'malformed',
    'bin32 2^31',
  );
  expectCodecError(
    () => codec.decode(bytes([0xc9, ...mp.u32(n), 0x74, 7])),
    'malformed',
    'ext32 2^31',
  );
  expectCodecError(
    () => codec.decode(bytes([0xdc, 0xff, 0xff])),
    'malformed',
    'array16 65535, empty',
  );
});

test('array and map sizes over the limits → too-large', () => {
  const limited = createCodec({ maxArrayLength: 3, maxKeys: 2 });
  assert.deepEqual(limited.decode(limited.encode([1, 2, 3])), [1, 2, 3]);
  expectCodecError(() => limited.decode(limited.encode([1, 2, 3, 4])), 'too-large', 'array');
  expectCodecError(() => limited.decode(limited.encode({ a: 1, b: 2, c: 3 })), 'too-large', 'map');
  // Typed arrays are bounded by maxBytes, not maxArrayLength.
  assert.equal((limited.decode(limited.encode(new Float32Array(100))) as Float32Array).length, 100);
});

test('deep nesting → too-deep (1000 and 1,000,000 levels, arrays and maps), without stack overflow', () => {
  const nestedArrays = (depth: number): Uint8Array => {
    const out = new Uint8Array(depth + 1).fill(0x91); // fixarray of 1
    out[depth] = 0xc0; // nil at the bottom
    return out;
  };
  expectCodecError(() => codec.decode(nestedArrays(1000)), 'too-deep', 'arrays 1000');
  expectCodecError(() => codec.decode(nestedArrays(1_000_000)), 'too-deep', 'arrays 1e6');
  const nestedMaps: number[] = [];
  for (let i = 0; i < 1000; i++) nestedMaps.push(0x81, ...mp.str('k'));
  nestedMaps.push(0xc0);
  expectCodecError(() => codec.decode(bytes(nestedMaps)), 'too-deep', 'maps 1000');

  // Exactly at the limit decodes; one more level does not.
  const { maxDepth } = DEFAULT_DECODE_LIMITS;
  assert.ok(Array.isArray(codec.decode(nestedArrays(maxDepth))));
  expectCodecError(() => codec.decode(nestedArrays(maxDepth + 1)), 'too-deep', 'limit + 1');
  const shallow = createCodec({ maxDepth: 2 });
  assert.deepEqual(shallow.decode(shallow.encode({ a: [1] })), { a: [1] });
  expectCodecError(() => shallow.decode(shallow.encode({ a: [[1]] })), 'too-deep', 'maxDepth 2');
});

test('__proto__, constructor and prototype keys → forbidden-key, and nothing is polluted', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    // { key: { polluted: true } } built by hand, and nested inside an array.
    const map = [0x81, ...mp.str(key), 0x81, ...mp.str('polluted'), 0xc3];
    expectCodecError(() => codec.decode(bytes(map)), 'forbidden-key', key);
    expectCodecError(
      () => codec.decode(bytes([0x92, 0x01, ...map])),
      'forbidden-key',
      `${key} nested`,
    );
  }
  // An own "__proto__" property (as JSON.parse makes) encodes, but never decodes.
  const hostile = JSON.parse('{"ok": 1, "__proto__": {"polluted": true}}') as unknown;
  expectCodecError(() => codec.decode(codec.encode(hostile)), 'forbidden-key', 'JSON.parse object');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Similar-looking keys are fine.
  assert.deepEqual(codec.decode(codec.encode({ __proto: 1, constructors: 2, proto: 3 })), {
    __proto: 1,
    constructors: 2,
    proto: 3,
  });
});

test('wrong types: non-string map keys and extension types we never accept', () => {
  expectCodecError(() => codec.decode(bytes([0x81, 0x01, 0x02])), 'wrong-type', 'int key');
  const moreTypes = new Packr({ moreTypes: true, useRecords: false, structuredClone: false });
  const structured = new Packr({ moreTypes: true, structuredClone: true });
  const records = new Packr({ useRecords: true });
  const cases: [string, Uint8Array][] = [
    ['Map with int key', moreTypes.pack(new Map([[1, 2]]))],
    ['Set', moreTypes.pack(new Set([1]))],
    ['Error', moreTypes.pack(new Error('x'))],
    ['RegExp', moreTypes.pack(/x/g)],
    ['BigInt > 64 bits', moreTypes.pack(2n ** 80n)],
    ['BigInt64Array', moreTypes.pack(new BigInt64Array([1n]))],
    ['ArrayBuffer', moreTypes.pack(new ArrayBuffer(4))],
    [
      'structured clone cycle',
      structured.pack(
        (() => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        })(),
      ),
    ],
    ['msgpackr records', records.pack([{ a: 1 }, { a: 2 }])],
    ['unknown ext', bytes([0xd4, 0x10, 0x00])],
  ];
  for (const [label, input] of cases) {
    expectCodecError(() => codec.decode(input), 'wrong-type', label);
  }
  expectCodecError(
    () => codec.decode('not bytes' as unknown as Uint8Array),
    'wrong-type',
    'string input',
  );
});

test('encode failures are CodecErrors; bad limits are RangeErrors', () => {
  expectCodecError(() => codec.encode({ f: () => 1, s: Symbol('x') }), 'wrong-type', 'symbol');
  assert.throws(() => resolveDecodeLimits({ maxDepth: 0 }), RangeError);
  assert.throws(() => resolveDecodeLimits({ maxBytes: 1.5 }), RangeError);
  assert.deepEqual(resolveDecodeLimits({ maxKeys: 9 }), { ...DEFAULT_DECODE_LIMITS, maxKeys: 9 });
});
