import { DatasetError } from '../errors.js';
import type { LabeledData } from './types.js';

/**
 * The IDX format of the MNIST family (http://yann.lecun.com/exdb/mnist/):
 * two zero bytes, a type byte, the number of dimensions, each dimension as a
 * big-endian uint32, then the values big-endian in row-major order.
 * Parsed here from bytes so browsers and Node share it (Node reads files in node/data).
 */

export type IdxArray =
  Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxTensor {
  readonly dims: number[];
  readonly data: IdxArray;
}

interface IdxType {
  readonly name: string;
  readonly bytes: number;
  readonly make: (n: number) => IdxArray;
  readonly read: (view: DataView, offset: number) => number;
}

const IDX_TYPES: ReadonlyMap<number, IdxType> = new Map<number, IdxType>([
  [
    0x08,
    { name: 'uint8', bytes: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o) },
  ],
  [0x09, { name: 'int8', bytes: 1, make: (n) => new Int8Array(n), read: (v, o) => v.getInt8(o) }],
  [
    0x0b,
    { name: 'int16', bytes: 2, make: (n) => new Int16Array(n), read: (v, o) => v.getInt16(o) },
  ],
  [
    0x0c,
    { name: 'int32', bytes: 4, make: (n) => new Int32Array(n), read: (v, o) => v.getInt32(o) },
  ],
  [
    0x0d,
    {
      name: 'float32',
      bytes: 4,
      make: (n) => new Float32Array(n),
      read: (v, o) => v.getFloat32(o),
    },
  ],
  [
    0x0e,
    {
      name: 'float64',
      bytes: 8,
      make: (n) => new Float64Array(n),
      read: (v, o) => v.getFloat64(o),
    },
  ],
]);

/**
 * Parses one IDX file's bytes. The data is copied out (never a view of `bytes`).
 * Throws DatasetError for a bad magic number, an unknown type, or a header whose
 * declared size does not match the byte count (short or with trailing bytes),
 * naming the numbers.
 */
export function parseIdx(bytes: Uint8Array): IdxTensor {
  if (bytes.length < 4) {
    throw new DatasetError(
      `IDX data is ${bytes.length} bytes, shorter than the 4-byte magic number`,
    );
  }
  const [zero0, zero1, typeCode, ndims] = bytes as unknown as [number, number, number, number];
  if (zero0 !== 0 || zero1 !== 0) {
    throw new DatasetError(
      `not IDX data: magic starts 0x${hex(zero0)} 0x${hex(zero1)}, expected 0x00 0x00` +
        (zero0 === 0x1f && zero1 === 0x8b ? ' (this is gzip: decompress it first)' : ''),
    );
  }
  const type = IDX_TYPES.get(typeCode);
  if (type === undefined) {
    throw new DatasetError(
      `unknown IDX type byte 0x${hex(typeCode)} (known: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)`,
    );
  }
  if (ndims === 0) throw new DatasetError('IDX header declares 0 dimensions');
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DatasetError(
      `IDX header declares ${ndims} dimensions (${headerBytes} header bytes) but the data has ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const available = bytes.length - headerBytes;
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const dim = view.getUint32(4 + 4 * d);
    dims.push(dim);
    count *= dim;
  }
  // count is exact below 2^53; anything larger is far beyond `available` anyway.
  const expected = count * type.bytes;
  if (expected !== available) {
    throw new DatasetError(
      `IDX header declares dims [${dims.join(', ')}] of ${type.name} = ${expected} data bytes, ` +
        `but ${available} bytes follow the ${headerBytes}-byte header`,
    );
  }
  const data = type.make(count);
  if (type.bytes === 1 && data instanceof Uint8Array) {
    data.set(bytes.subarray(headerBytes));
  } else {
    for (let i = 0; i < count; i++) data[i] = type.read(view, headerBytes + i * type.bytes);
  }
  return { dims, data };
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0').toUpperCase();
}

export interface IdxToDataOptions {
  /**
   * `'auto'` divides uint8 values by 255 (pixels → 0..1) and keeps every other
   * type as stored; `true` divides by 255 whatever the type, a number divides
   * by that number, `false` keeps raw values. Defaults to 'auto'.
   */
  normalize: boolean | number | 'auto';
}

/**
 * The input shape of one sample of an IDX images tensor `[n, ...]`: `[h, w]`
 * images become `[h, w, 1]` (one channel, as image models expect), `[n, d]`
 * rows stay `[d]`, `[n, h, w, c]` stays `[h, w, c]`.
 */
export function idxInputShape(dims: readonly number[]): number[] {
  const sample = dims.slice(1);
  if (sample.length === 0) {
    throw new DatasetError(`IDX images must have at least 2 dimensions, got [${dims.join(', ')}]`);
  }
  return sample.length === 2 ? [...sample, 1] : sample;
}

/** Features of an IDX images tensor `[n, ...]`, flat row-major, scaled per `normalize`. */
export function idxToFeatures(
  images: IdxTensor,
  options: Readonly<Partial<IdxToDataOptions>> = {},
): { x: Float32Array; count: number; inputShape: number[] } {
  const normalize = options.normalize ?? 'auto';
  const divisor =
    normalize === 'auto'
      ? images.data instanceof Uint8Array
        ? 255
        : 1
      : normalize === true
        ? 255
        : normalize === false
          ? 1
          : normalize;
  if (!(divisor > 0) || !Number.isFinite(divisor)) {
    throw new DatasetError(`normalize divisor must be a finite number > 0, got ${divisor}`);
  }
  const inputShape = idxInputShape(images.dims);
  const count = images.dims[0] ?? 0;
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) {
    const v = (images.data[i] as number) / divisor;
    if (!Number.isFinite(v) || Math.abs(v) > 3.4028234663852886e38) {
      throw new DatasetError(`IDX image value ${i} is ${images.data[i]}; features must be finite`);
    }
    x[i] = v;
  }
  return { x, count, inputShape };
}

/**
 * Pairs an images tensor `[n, ...]` with a labels tensor `[n]` of
 * non-negative integer class indices into flat {@link LabeledData}.
 */
export function idxToLabeledData(
  images: IdxTensor,
  labels: IdxTensor,
  options: Readonly<Partial<IdxToDataOptions>> = {},
): LabeledData {
  if (labels.dims.length !== 1) {
    throw new DatasetError(`IDX labels must be 1-D, got dims [${labels.dims.join(', ')}]`);
  }
  const count = images.dims[0] ?? 0;
  if (labels.dims[0] !== count) {
    throw new DatasetError(`IDX images hold ${count} samples but labels hold ${labels.dims[0]}`);
  }
  let maxLabel = 0;
  for (let i = 0; i < count; i++) {
    const y = labels.data[i] as number;
    if (!Number.isInteger(y) || y < 0) {
      throw new DatasetError(`IDX label ${i} is ${y}; labels must be non-negative integers`);
    }
    if (y > maxLabel) maxLabel = y;
  }
  const { x } = idxToFeatures(images, options);
  const y = maxLabel < 256 ? new Uint8Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) y[i] = labels.data[i] as number;
  return { x, y, count };
}

/**
 * IDX bytes for a tensor (the inverse of {@link parseIdx}): Uint8Array as
 * uint8, Int32Array as int32, Float32Array as float32, big-endian.
 */
export function encodeIdx(
  dims: readonly number[],
  data: Uint8Array | Int32Array | Float32Array,
): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (dims.length === 0 || dims.length > 255 || count !== data.length) {
    throw new DatasetError(
      `encodeIdx: dims [${dims.join(', ')}] do not hold ${data.length} values`,
    );
  }
  const [typeCode, bytesPer] =
    data instanceof Uint8Array ? [0x08, 1] : data instanceof Int32Array ? [0x0c, 4] : [0x0d, 4];
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * bytesPer);
  const view = new DataView(out.buffer);
  out[2] = typeCode;
  out[3] = dims.length;
  dims.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new DatasetError(`encodeIdx: dimension ${d} is not a uint32`);
    }
    view.setUint32(4 + 4 * i, d);
  });
  if (data instanceof Uint8Array) out.set(data, header);
  else if (data instanceof Int32Array)
    for (let i = 0; i < count; i++) view.setInt32(header + 4 * i, data[i] as number);
  else for (let i = 0; i < count; i++) view.setFloat32(header + 4 * i, data[i] as number);
  return out;
}
