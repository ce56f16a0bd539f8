/**
 * A structural pre-scan of MessagePack bytes, run before msgpackr decodes
 * them.
 *
 * Why a separate pass: msgpackr trusts declared lengths, recurses once per
 * nesting level (a deep enough message overflows the stack), silently
 * renames `__proto__` keys and understands many extensions (records, structured
 * clones, errors, regexps, bundled strings) we never want from a peer. The
 * scan walks the token stream iteratively without allocating values, so each
 * of those is rejected with a precise CodecError before msgpackr runs, and
 * it costs O(tokens): a weight set of a few large typed arrays is a handful
 * of tokens however many bytes it has.
 */
import { CodecError } from '../errors.js';
import type { DecodeLimits } from './limits.js';

/** Map keys that could reach a prototype if some consumer assigned them blindly. */
export const FORBIDDEN_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];
const FORBIDDEN_KEY_BYTES = FORBIDDEN_KEYS.map((k) => Uint8Array.from(k, (c) => c.charCodeAt(0)));

/** msgpackr's typed-array extension ("t"): first data byte is the array kind. */
export const EXT_TYPED_ARRAY = 0x74;
/** Element sizes by msgpackr typed-array code: Int8, Uint8, Uint8Clamped, Int16, Uint16, Int32, Uint32, Float32, Float64. */
const TYPED_ARRAY_ELEMENT_BYTES = [1, 1, 1, 2, 2, 4, 4, 4, 8];

const enum Kind {
  Scalar,
  Str,
  Array,
  Map,
}

/**
 * Checks that `bytes` hold exactly one well-formed MessagePack value within
 * `limits`; throws a CodecError otherwise:
 * - 'too-large': over maxBytes, or an array / map over maxArrayLength / maxKeys;
 * - 'too-deep': nesting over maxDepth;
 * - 'malformed': truncated, declares more content than the bytes left
 *   (e.g. a 2^31-element header on a short message), reserved byte 0xc1,
 *   trailing bytes, a typed array whose byte length is not a multiple of its
 *   element size;
 * - 'wrong-type': a non-string map key or an extension type other than
 *   undefined, timestamps and typed arrays (Int8..Float64);
 * - 'forbidden-key': a map key `__proto__`, `constructor` or `prototype`.
 */
export function scanMsgpack(bytes: Uint8Array, limits: Readonly<DecodeLimits>): void {
  const end = bytes.length;
  if (end > limits.maxBytes) {
    throw new CodecError(
      `message of ${end} bytes exceeds maxBytes ${limits.maxBytes}`,
      'too-large',
    );
  }
  if (end === 0) throw new CodecError('empty message', 'malformed');
  // Per open container: items still expected and whether it is a map.
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  let pos = 0;

  const need = (n: number, what: string): void => {
    if (n > end - pos) {
      throw new CodecError(
        `${what} at byte ${pos} needs ${n} bytes but only ${end - pos} remain`,
        'malformed',
      );
    }
  };
  const readUint = (n: 1 | 2 | 4): number => {
    need(n, 'length field');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (bytes[pos + i] as number);
    pos += n;
    return v;
  };

  for (;;) {
    const depth = remaining.length;
    const top = depth - 1;
    // In a map, items alternate key, value: a key is due when an even count is left.
    const expectKey = depth > 0 && isMap[top] === true && (remaining[top] as number) % 2 === 0;
    if (pos >= end) throw new CodecError('message truncated', 'malformed');
    const tokenAt = pos;
    const token = bytes[pos++] as number;
    let kind = Kind.Scalar;
    let length = 0; // payload bytes (Str/Scalar) or item count (Array/Map)

    if (token <= 0x7f || token >= 0xe0) {
      // fixint
    } else if (token <= 0x8f) {
      kind = Kind.Map;
      length = token & 0x0f;
    } else if (token <= 0x9f) {
      kind = Kind.Array;
      length = token & 0x0f;
    } else if (token <= 0xbf) {
      kind = Kind.Str;
      length = token & 0x1f;
    } else {
      switch (token) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc1:
          throw new CodecError(`reserved byte 0xc1 at ${tokenAt}`, 'malformed');
        case 0xc4:
          length = readUint(1);
          break;
        case 0xc5:
          length = readUint(2);
          break;
        case 0xc6:
          length = readUint(4);
          break;
        case 0xc7:
          length = checkExt(readUint(1));
          break;
        case 0xc8:
          length = checkExt(readUint(2));
          break;
        case 0xc9:
          length = checkExt(readUint(4));
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          length = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          length = 8;
          break;
        case 0xcc:
        case 0xd0:
          length = 1;
          break;
        case 0xcd:
        case 0xd1:
          length = 2;
          break;
        case 0xd4:
          length = checkExt(1);
          break;
        case 0xd5:
          length = checkExt(2);
          break;
        case 0xd6:
          length = checkExt(4);
          break;
        case 0xd7:
          length = checkExt(8);
          break;
        case 0xd8:
          length = checkExt(16);
          break;
        case 0xd9:
          kind = Kind.Str;
          length = readUint(1);
          break;
        case 0xda:
          kind = Kind.Str;
          length = readUint(2);
          break;
        case 0xdb:
          kind = Kind.Str;
          length = readUint(4);
          break;
        case 0xdc:
          kind = Kind.Array;
          length = readUint(2);
          break;
        case 0xdd:
          kind = Kind.Array;
          length = readUint(4);
          break;
        case 0xde:
          kind = Kind.Map;
          length = readUint(2);
          break;
        case 0xdf:
          kind = Kind.Map;
          length = readUint(4);
          break;
      }
    }

    if (expectKey && kind !== Kind.Str) {
      throw new CodecError(`map key at byte ${tokenAt} is not a string`, 'wrong-type');
    }
    if (depth > 0) remaining[top] = (remaining[top] as number) - 1;

    if (kind === Kind.Array || kind === Kind.Map) {
      const limit = kind === Kind.Array ? limits.maxArrayLength : limits.maxKeys;
      if (length > limit) {
        throw new CodecError(
          `${kind === Kind.Array ? 'array of' : 'map with'} ${length} ${kind === Kind.Array ? 'elements' : 'keys'} at byte ${tokenAt} exceeds the limit ${limit}`,
          'too-large',
        );
      }
      const items = kind === Kind.Map ? 2 * length : length;
      // Every item takes at least one byte: a header claiming more items than
      // bytes left is a lie (or truncation), rejected before any allocation.
      if (items > end - pos) {
        throw new CodecError(
          `${kind === Kind.Array ? 'array' : 'map'} at byte ${tokenAt} declares ${length} entries but only ${end - pos} bytes remain`,
          'malformed',
        );
      }
      if (depth + 1 > limits.maxDepth) {
        throw new CodecError(`nesting deeper than maxDepth ${limits.maxDepth}`, 'too-deep');
      }
      if (items > 0) {
        remaining.push(items);
        isMap.push(kind === Kind.Map);
      }
    } else {
      need(length, 'value');
      if (expectKey) checkKey(tokenAt, length);
      pos += length;
    }

    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) {
      remaining.pop();
      isMap.pop();
    }
    if (remaining.length === 0) break;
  }
  if (pos !== end) {
    throw new CodecError(`${end - pos} trailing bytes after the message`, 'malformed');
  }

  // `pos` points at the ext type byte; `dataLength` excludes it. Leaves `pos`
  // there and returns the bytes to skip (type byte + data).
  function checkExt(dataLength: number): number {
    need(dataLength + 1, 'extension');
    const type = bytes[pos] as number;
    const data = pos + 1;
    if (type === 0x00 && dataLength === 1 && bytes[data] === 0) {
      // msgpackr's encoding of `undefined`
    } else if (type === 0xff && (dataLength === 4 || dataLength === 8 || dataLength === 12)) {
      // timestamp → Date
    } else if (type === EXT_TYPED_ARRAY && dataLength >= 1) {
      const code = bytes[data] as number;
      const size = TYPED_ARRAY_ELEMENT_BYTES[code];
      if (size === undefined) {
        throw new CodecError(`unsupported typed-array code ${code} at byte ${pos}`, 'wrong-type');
      }
      if ((dataLength - 1) % size !== 0) {
        throw new CodecError(
          `typed array of ${dataLength - 1} bytes is not a whole number of ${size}-byte elements`,
          'malformed',
        );
      }
    } else {
      throw new CodecError(
        `unsupported MessagePack extension type ${type} (${dataLength} bytes) at byte ${pos}`,
        'wrong-type',
      );
    }
    return dataLength + 1;
  }

  function checkKey(at: number, length: number): void {
    for (const forbidden of FORBIDDEN_KEY_BYTES) {
      if (forbidden.length !== length) continue;
      let same = true;
      for (let i = 0; i < length && same; i++) same = bytes[pos + i] === forbidden[i];
      if (same) {
        throw new CodecError(
          `forbidden map key "${String.fromCharCode(...forbidden)}" at byte ${at}`,
          'forbidden-key',
        );
      }
    }
  }
}
