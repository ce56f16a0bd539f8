/**
 * Flat weight vectors (all of a model's variables concatenated, float32) in
 * wire form, at three precisions.
 *
 * Reconstruction error bounds, ŵ = decodeWeights(encodeWeights(w, p)):
 * - 'float32': exact (bit for bit).
 * - 'float16': |ŵ − w| ≤ 2^-11 · |w| (≈ 4.88e-4 relative) for |w| ≥ 2^-14,
 *   and ≤ 2^-25 (≈ 2.98e-8) absolute below; |w| > 65504 cannot be encoded.
 * - 'int8': symmetric per-segment quantisation, scale s = max|w_seg| / 127,
 *   q = round(w / s) ∈ [−127, 127]: |ŵ − w| ≤ s / 2 = max|w_seg| / 254, plus
 *   float32 rounding of the product (≤ 2^-24 · |ŵ|). Pass `segments` (each
 *   tensor's length, e.g. weightSegments(model)) so one large tensor does not
 *   set the step size for the small ones (biases, norms).
 *
 * Why not always int8: FedAvg of deltas tolerates int8 noise, but the global
 * model the server sends down is usually better kept float32/float16.
 */
import { CodecError } from '../errors.js';
import {
  FLOAT16_MAX,
  float16ToFloat32Into,
  float32ToFloat16Into,
  HALF_NON_FINITE_CARRY,
  isHalfNonFinite,
} from '../softLabels/float16.js';
import { describe } from './codec.js';
import { firstNonFinite, maxAbsBits, NON_FINITE_ABS_BITS } from './finite.js';

export type WeightPrecision = 'float32' | 'float16' | 'int8';

export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['float32', 'float16', 'int8'];

/** Most weights one set may declare (Float32Array length limit in practice). */
export const MAX_WEIGHTS_LENGTH = 2 ** 30;

/**
 * A weight vector in wire form.
 * - `data`: Float32Array ('float32'), Uint16Array of half bit patterns
 *   ('float16') or Int8Array ('int8'), `length` elements. A peer that cannot
 *   produce msgpackr typed arrays may send a Uint8Array of the same values'
 *   little-endian bytes instead; decodeWeights accepts both.
 * - int8 only: either `scale` (one segment) or `segments` (lengths summing to
 *   `length`) with `scales` (one per segment).
 */
export interface EncodedWeights {
  precision: WeightPrecision;
  length: number;
  data: Float32Array | Uint16Array | Int8Array | Uint8Array;
  scale?: number;
  segments?: number[];
  scales?: Float32Array;
}

export interface EncodeWeightsOptions {
  /**
   * int8 only: lengths of consecutive segments (tensors), each quantised with
   * its own scale; must sum to the weights' length. Defaults to one segment.
   */
  segments: readonly number[];
}

/**
 * Encodes a flat float32 weight vector.
 * @throws CodecError 'non-finite' for NaN/±Infinity weights or weights that
 *   overflow float16; 'malformed' for segments that do not add up;
 *   'wrong-type' for an unknown precision or a non-Float32Array input.
 */
export function encodeWeights(
  weights: Float32Array,
  precision: WeightPrecision,
  options: Readonly<Partial<EncodeWeightsOptions>> = {},
): EncodedWeights {
  if (!(weights instanceof Float32Array)) {
    throw new CodecError(
      `encodeWeights: expected a Float32Array, got ${describe(weights)}`,
      'wrong-type',
    );
  }
  const length = weights.length;
  // Each precision checks finiteness in a pass it makes anyway where it can
  // (float16: the conversion; int8: the max |w| of each segment); the error
  // names the first NaN / ±Infinity whichever path finds it.
  switch (precision) {
    case 'float32': {
      throwIfNonFinite(weights);
      return { precision, length, data: weights.slice() };
    }
    case 'float16': {
      const data = new Uint16Array(length);
      if ((float32ToFloat16Into(weights, data) & HALF_NON_FINITE_CARRY) !== 0) {
        throwIfNonFinite(weights);
        for (let i = 0; i < length; i++) {
          if (isHalfNonFinite(data[i] as number)) {
            throw new CodecError(
              `encodeWeights: weight ${i} = ${weights[i]} overflows float16 (|w| > ${FLOAT16_MAX})`,
              'non-finite',
            );
          }
        }
      }
      return { precision, length, data };
    }
    case 'int8': {
      const segments = options.segments ? [...options.segments] : [length];
      try {
        checkSegments(segments, length, 'encodeWeights');
      } catch (error) {
        throwIfNonFinite(weights); // a NaN weight is reported first, as for every precision
        throw error;
      }
      const bits = new Int32Array(weights.buffer, weights.byteOffset, length);
      const data = new Int8Array(length);
      const scales = new Float32Array(segments.length);
      let start = 0;
      for (let s = 0; s < segments.length; s++) {
        const end = start + (segments[s] as number);
        const maxBits = maxAbsBits(bits, start, end);
        if (maxBits >= NON_FINITE_ABS_BITS) throwIfNonFinite(weights);
        const scale = Math.fround(floatOfBits(maxBits) / 127);
        scales[s] = scale;
        if (scale > 0) quantizeInt8(weights, data, start, end, scale);
        start = end;
      }
      if (options.segments) return { precision, length, data, segments, scales };
      return { precision, length, data, scale: scales[0] ?? 0 };
    }
    default:
      throwIfNonFinite(weights);
      throw new CodecError(`encodeWeights: unknown precision ${String(precision)}`, 'wrong-type');
  }
}

/** @throws CodecError 'non-finite' naming the first NaN / ±Infinity weight, if any. */
function throwIfNonFinite(weights: Float32Array): void {
  const bad = firstNonFinite(weights);
  if (bad >= 0) {
    throw new CodecError(`encodeWeights: weight ${bad} is ${weights[bad]}`, 'non-finite');
  }
}

const scratchBits = new Int32Array(1);
const scratchFloat = new Float32Array(scratchBits.buffer);
/** The float32 whose bits are `bits`. */
function floatOfBits(bits: number): number {
  scratchBits[0] = bits;
  return scratchFloat[0] as number;
}

/**
 * Decodes (and validates) a weight set that came from a peer.
 *
 * @param encoded anything; typically a field of a decoded message.
 * @param expectedLength when given, the set must have exactly this many weights.
 * @returns a new Float32Array owned by the caller.
 * @throws CodecError — 'wrong-type' (not an object, unknown precision, data
 *   of the wrong typed-array type), 'malformed' (length mismatch, bad scale /
 *   segments), 'non-finite' (NaN / ±Infinity in data, scales or results).
 */
export function decodeWeights(
  encoded: EncodedWeights | unknown,
  expectedLength?: number,
): Float32Array {
  if (typeof encoded !== 'object' || encoded === null || Array.isArray(encoded)) {
    throw new CodecError(`weights: expected an object, got ${describe(encoded)}`, 'wrong-type');
  }
  const e = encoded as Record<string, unknown>;
  const { precision, length } = e;
  if (!WEIGHT_PRECISIONS.includes(precision as WeightPrecision)) {
    throw new CodecError(`weights: unknown precision ${String(precision)}`, 'wrong-type');
  }
  if (
    typeof length !== 'number' ||
    !Number.isInteger(length) ||
    length < 0 ||
    length > MAX_WEIGHTS_LENGTH
  ) {
    throw new CodecError(`weights: bad length ${String(length)}`, 'malformed');
  }
  if (expectedLength !== undefined && length !== expectedLength) {
    throw new CodecError(`weights: got ${length} weights, expected ${expectedLength}`, 'malformed');
  }

  if (precision === 'float32') {
    const data = typedData(e.data, Float32Array, length);
    // Raw bytes were already copied into a fresh array by typedData; a typed
    // array is copied here. Checking the copy means the checked values are the
    // ones returned.
    const out = e.data instanceof Float32Array ? data.slice() : data;
    const bad = firstNonFinite(out);
    if (bad >= 0) throw new CodecError(`weights: weight ${bad} is ${out[bad]}`, 'non-finite');
    return out;
  }
  if (precision === 'float16') {
    const data = typedData(e.data, Uint16Array, length);
    const out = new Float32Array(length);
    // The conversion flags a non-finite half in the same pass; only then is the index looked up.
    if ((float16ToFloat32Into(data, out) & HALF_NON_FINITE_CARRY) !== 0) {
      for (let i = 0; i < length; i++) {
        if (isHalfNonFinite(data[i] as number)) {
          throw new CodecError(
            `weights: weight ${i} is not finite (half 0x${(data[i] as number).toString(16)})`,
            'non-finite',
          );
        }
      }
    }
    return out;
  }

  // int8
  const data = typedData(e.data, Int8Array, length);
  let segments: number[];
  let scales: ArrayLike<number>;
  if (e.segments === undefined) {
    if (e.scales !== undefined) {
      throw new CodecError('weights: int8 scales given without segments', 'malformed');
    }
    checkScale(e.scale, 'scale');
    segments = [length];
    scales = [e.scale as number];
  } else {
    if (!Array.isArray(e.segments)) {
      throw new CodecError(
        `weights: segments must be an array, got ${describe(e.segments)}`,
        'wrong-type',
      );
    }
    segments = e.segments as number[];
    checkSegments(segments, length, 'weights');
    const rawScales = e.scales;
    if (!(
      rawScales instanceof Float32Array ||
      rawScales instanceof Float64Array ||
      Array.isArray(rawScales)
    )) {
      throw new CodecError(
        `weights: int8 scales must be an array, got ${describe(rawScales)}`,
        'wrong-type',
      );
    }
    if (rawScales.length !== segments.length) {
      throw new CodecError(
        `weights: ${rawScales.length} scales for ${segments.length} segments`,
        'malformed',
      );
    }
    for (let s = 0; s < rawScales.length; s++) checkScale(rawScales[s], `scales[${s}]`);
    scales = rawScales as ArrayLike<number>;
  }
  const out = new Float32Array(length);
  let start = 0;
  let mayOverflow = false;
  for (let s = 0; s < segments.length; s++) {
    const end = start + (segments[s] as number);
    const scale = scales[s] as number;
    dequantizeInt8(data, out, start, end, scale);
    // |q| ≤ 128 and rounding is monotonic, so every fround(q · scale) of the
    // segment is at most fround(128 · scale): when that is finite (the scale
    // is checked finite and ≥ 0 above) no product overflowed and the segment
    // needs no scan.
    if (!(Math.fround(128 * scale) <= FLOAT32_MAX)) mayOverflow = true;
    start = end;
  }
  if (mayOverflow) {
    const bad = firstNonFinite(out);
    if (bad >= 0) throw new CodecError(`weights: weight ${bad} overflows float32`, 'non-finite');
  }
  return out;
}

// The per-element loops live in small functions of fixed argument types, so
// V8 compiles each once into a tight loop (no closure, no Math.max call per
// element, no polymorphic element access).

/** Largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Below this distance from a tie (x.5), w · (1 / scale) and w / scale could
 * round to different integers. Both are float64 results within a few ulps of
 * the exact quotient (|quotient| ≤ 127 + rounding, so ≲ 1e-13 apart), so a
 * margin of 1e-9 is far wider than needed.
 */
const TIE_MARGIN = 1e-9;

/**
 * data[i] = clamp(round(weights[i] / scale), ±127) over [start, end).
 *
 * Bit-identical to dividing every weight, at the cost of a multiplication:
 * t = w · (1/scale) is rounded unless it lies within TIE_MARGIN of a tie,
 * where the division decides (about 1 weight in 10^8 for random data, every exact
 * tie such as w = 0.5 · scale).
 */
function quantizeInt8(
  weights: Float32Array,
  data: Int8Array,
  start: number,
  end: number,
  scale: number,
): void {
  const inverse = 1 / scale;
  for (let i = start; i < end; i++) {
    const w = weights[i] as number;
    // Math.round(t) is floor(t + 0.5); floor is the cheaper instruction in V8.
    const u = w * inverse + 0.5;
    let q = Math.floor(u);
    // u − q ∈ [0, 1): near 0 or 1 means t was near a tie.
    if (Math.abs(u - q - 0.5) > 0.5 - TIE_MARGIN) q = Math.round(w / scale);
    // |weights[i]| ≤ 127·scale up to float32 rounding of the scale, so only the clamp at ±127 can bite.
    data[i] = q > 127 ? 127 : q < -127 ? -127 : q;
  }
}

/** out[i] = data[i] · scale over [start, end). */
function dequantizeInt8(
  data: Int8Array,
  out: Float32Array,
  start: number,
  end: number,
  scale: number,
): void {
  for (let i = start; i < end; i++) out[i] = (data[i] as number) * scale;
}

type TypedCtor<T> = {
  new (buffer: ArrayBuffer): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/**
 * The data as `ctor`, `length` elements. Raw little-endian bytes (Uint8Array,
 * e.g. a msgpack bin from a non-msgpackr peer, possibly at an odd byteOffset)
 * are copied into a fresh, aligned array.
 */
function typedData<T extends Float32Array | Uint16Array | Int8Array>(
  data: unknown,
  ctor: TypedCtor<T>,
  length: number,
): T {
  if (data instanceof (ctor as unknown as typeof Float32Array)) {
    const typed = data as unknown as T;
    if (typed.length !== length) {
      throw new CodecError(
        `weights: data has ${typed.length} elements, declared length ${length}`,
        'malformed',
      );
    }
    return typed;
  }
  if (data instanceof Uint8Array) {
    if (data.byteLength !== length * ctor.BYTES_PER_ELEMENT) {
      throw new CodecError(
        `weights: raw data has ${data.byteLength} bytes, expected ${length} × ${ctor.BYTES_PER_ELEMENT}`,
        'malformed',
      );
    }
    if (!isLittleEndian) {
      throw new CodecError(
        'weights: raw byte data is only supported on little-endian hosts',
        'wrong-type',
      );
    }
    return new ctor(data.slice().buffer);
  }
  throw new CodecError(`weights: data must be a ${ctor.name}, got ${describe(data)}`, 'wrong-type');
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkScale(scale: unknown, what: string): void {
  if (typeof scale !== 'number') {
    throw new CodecError(
      `weights: int8 ${what} must be a number, got ${describe(scale)}`,
      'malformed',
    );
  }
  if (!Number.isFinite(scale))
    throw new CodecError(`weights: int8 ${what} is ${scale}`, 'non-finite');
  if (scale < 0) throw new CodecError(`weights: int8 ${what} = ${scale} < 0`, 'malformed');
}

function checkSegments(segments: readonly unknown[], length: number, where: string): void {
  let sum = 0;
  for (const seg of segments) {
    if (typeof seg !== 'number' || !Number.isInteger(seg) || seg < 0) {
      throw new CodecError(
        `${where}: segment length ${String(seg)} is not a non-negative integer`,
        'malformed',
      );
    }
    sum += seg;
  }
  if (sum !== length) {
    throw new CodecError(`${where}: segments sum to ${sum}, expected ${length}`, 'malformed');
  }
}
