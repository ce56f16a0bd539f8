/**
 * Compact wire form of a teacher's features over the whole proxy set: a
 * row-major [count × width] float matrix (one row per proxy sample, e.g. the
 * teacher's penultimate activations), for the feature and relation terms.
 * Like the soft-label set it is computed once per teacher version, stored by
 * content hash (the coordinator hashes its msgpack bytes) and fetched once.
 *
 * Precisions, with the error of a decoded value v̂ against the encoder's v:
 * - 'float32': exact.
 * - 'float16': |v̂ − v| ≤ 2^-11·|v| for |v| ≥ 2^-14, ≤ 2^-25 below (half precision,
 *   round to nearest even); values beyond ±65504 are refused at encode.
 * - 'uint8': per row r, q = round((v − min_r) / s_r) with s_r = (max_r − min_r) / 255, so
 *   |v̂ − v| ≤ s_r / 2 (half a step of that row's range); a constant row decodes exactly.
 *   Two float32 per row (offset, scale) travel beside the bytes.
 */
import { CodecError, DistillationInputError } from '../errors.js';
import { FLOAT16_MAX, float16ToFloat32, float32ToFloat16 } from '../softLabels/index.js';

/** The format tag every encoded set carries; bumped on incompatible changes. */
export const FEATURE_SET_FORMAT = 'fedistill.features/1';

export type FeaturePrecision = 'float32' | 'float16' | 'uint8';

export const FEATURE_PRECISIONS: readonly FeaturePrecision[] = ['float32', 'float16', 'uint8'];

/** Widest row a set may describe. */
export const MAX_FEATURE_WIDTH = 1 << 16;

/**
 * A whole proxy set's teacher features in wire form. `values` is row-major
 * [count, width]: Float32Array ('float32'), Uint16Array of half bit patterns
 * ('float16') or Uint8Array of per-row quantised levels ('uint8', with
 * `offsets` and `scales`, one float32 per row: v̂ = offset + q·scale).
 * `layer` names the teacher layer the features come from.
 */
export interface FeatureSet {
  format: typeof FEATURE_SET_FORMAT;
  count: number;
  width: number;
  layer: string;
  precision: FeaturePrecision;
  values: Float32Array | Uint16Array | Uint8Array;
  offsets?: Float32Array;
  scales?: Float32Array;
}

export interface EncodeFeaturesOptions {
  /** Values per row. Required. */
  width: number;
  /** The teacher layer the features come from (e.g. 'penultimate', or a layer name). Required. */
  layer: string;
  /** Storage of each value. Defaults to 'float16'. */
  precision?: FeaturePrecision;
}

export interface DecodeFeaturesOptions {
  /**
   * Largest decoded matrix accepted, in float32 elements (count · width). Defaults to 2^26
   * (256 MiB of float32).
   */
  maxElements: number;
}

/** The decoded matrix. */
export interface TeacherFeatures {
  /** Row-major [count, width]. */
  values: Float32Array;
  count: number;
  width: number;
  layer: string;
}

const DEFAULT_DECODE_OPTIONS: DecodeFeaturesOptions = { maxElements: 2 ** 26 };
const UINT8_STEPS = 255;

/**
 * Encodes a [count × width] matrix for the wire.
 *
 * @param values row-major [count, width], finite.
 * @throws DistillationInputError on a bad width or layer, a length that is not a multiple of
 *   width, a non-finite value, or (float16) a value beyond ±65504.
 */
export function encodeFeatures(
  values: Float32Array,
  opts: Readonly<EncodeFeaturesOptions>,
): FeatureSet {
  const { width, layer } = opts;
  const precision = opts.precision ?? 'float16';
  if (!FEATURE_PRECISIONS.includes(precision)) {
    throw new DistillationInputError(`encodeFeatures: unknown precision ${String(precision)}`);
  }
  if (!Number.isInteger(width) || width < 1 || width > MAX_FEATURE_WIDTH) {
    throw new DistillationInputError(
      `encodeFeatures: width must be an integer in [1, ${MAX_FEATURE_WIDTH}], got ${width}`,
    );
  }
  if (typeof layer !== 'string' || layer.length === 0 || layer.length > 200) {
    throw new DistillationInputError('encodeFeatures: layer must be a name of 1 to 200 characters');
  }
  if (!(values instanceof Float32Array) || values.length % width !== 0) {
    throw new DistillationInputError(
      `encodeFeatures: values must be a Float32Array whose length is a multiple of width ${width}`,
    );
  }
  const count = values.length / width;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) {
      throw new DistillationInputError(
        `encodeFeatures: values[${i}] (row ${Math.floor(i / width)}) = ${v} is not finite`,
      );
    }
    if (precision === 'float16' && Math.abs(v) > FLOAT16_MAX) {
      throw new DistillationInputError(
        `encodeFeatures: values[${i}] = ${v} is beyond float16's ±${FLOAT16_MAX}; use 'uint8' or 'float32'`,
      );
    }
  }
  const base = { format: FEATURE_SET_FORMAT, count, width, layer, precision } as const;
  if (precision === 'float32') return { ...base, values: Float32Array.from(values) };
  if (precision === 'float16') return { ...base, values: float32ToFloat16(values) };
  const q = new Uint8Array(values.length);
  const offsets = new Float32Array(count);
  const scales = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    let min = Infinity;
    let max = -Infinity;
    for (let j = r * width; j < (r + 1) * width; j++) {
      const v = values[j] as number;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const scale = (max - min) / UINT8_STEPS;
    offsets[r] = min;
    scales[r] = scale;
    if (scale === 0) continue; // a constant row: every level 0 decodes to min exactly
    for (let j = r * width; j < (r + 1) * width; j++) {
      const level = Math.round(((values[j] as number) - min) / scale);
      q[j] = level < 0 ? 0 : level > UINT8_STEPS ? UINT8_STEPS : level;
    }
  }
  return { ...base, values: q, offsets, scales };
}

/**
 * Decodes (and fully validates) a feature set that came from a peer.
 *
 * @throws CodecError — 'wrong-type' (not an object, unknown format or precision, wrong
 *   typed-array type), 'malformed' (bad count, width, layer or lengths, a negative scale),
 *   'non-finite' (NaN / ±Infinity anywhere), 'too-large' (count·width over `maxElements`).
 */
export function decodeFeatures(
  set: FeatureSet | unknown,
  options: Readonly<Partial<DecodeFeaturesOptions>> = {},
): TeacherFeatures {
  const { maxElements } = { ...DEFAULT_DECODE_OPTIONS, ...options };
  if (typeof set !== 'object' || set === null || Array.isArray(set)) {
    throw new CodecError('teacher features: expected an object', 'wrong-type');
  }
  const s = set as Record<string, unknown>;
  if (s.format !== FEATURE_SET_FORMAT) {
    throw new CodecError(
      `teacher features: unknown format ${JSON.stringify(s.format)}, expected ${FEATURE_SET_FORMAT}`,
      'wrong-type',
    );
  }
  const { count, width, layer, precision, values, offsets, scales } = s;
  if (!isIntIn(count, 0, Number.MAX_SAFE_INTEGER)) {
    throw new CodecError(`teacher features: bad count ${String(count)}`, 'malformed');
  }
  if (!isIntIn(width, 1, MAX_FEATURE_WIDTH)) {
    throw new CodecError(`teacher features: bad width ${String(width)}`, 'malformed');
  }
  if (typeof layer !== 'string' || layer.length === 0 || layer.length > 200) {
    throw new CodecError(
      'teacher features: layer must be a name of 1 to 200 characters',
      'malformed',
    );
  }
  if (!FEATURE_PRECISIONS.includes(precision as FeaturePrecision)) {
    throw new CodecError(`teacher features: unknown precision ${String(precision)}`, 'wrong-type');
  }
  if (count * width > maxElements) {
    throw new CodecError(
      `teacher features: ${count}×${width} values exceed the limit of ${maxElements}`,
      'too-large',
    );
  }
  const length = count * width;
  let out: Float32Array;
  if (precision === 'float32') {
    if (!(values instanceof Float32Array)) throw wrongArray('values', 'Float32Array', values);
    checkLength('values', values.length, length);
    out = Float32Array.from(values);
  } else if (precision === 'float16') {
    if (!(values instanceof Uint16Array)) throw wrongArray('values', 'Uint16Array', values);
    checkLength('values', values.length, length);
    out = float16ToFloat32(values);
  } else {
    if (!(values instanceof Uint8Array)) throw wrongArray('values', 'Uint8Array', values);
    checkLength('values', values.length, length);
    if (!(offsets instanceof Float32Array)) throw wrongArray('offsets', 'Float32Array', offsets);
    if (!(scales instanceof Float32Array)) throw wrongArray('scales', 'Float32Array', scales);
    checkLength('offsets', offsets.length, count);
    checkLength('scales', scales.length, count);
    out = new Float32Array(length);
    for (let r = 0; r < count; r++) {
      const offset = offsets[r] as number;
      const scale = scales[r] as number;
      if (!Number.isFinite(offset) || !Number.isFinite(scale)) {
        throw new CodecError(
          `teacher features: row ${r} offset or scale is not finite`,
          'non-finite',
        );
      }
      if (scale < 0) {
        throw new CodecError(`teacher features: row ${r} scale ${scale} < 0`, 'malformed');
      }
      for (let j = r * width; j < (r + 1) * width; j++) {
        out[j] = offset + (values[j] as number) * scale;
      }
    }
  }
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) {
      throw new CodecError(`teacher features: value ${i} is ${out[i]}`, 'non-finite');
    }
  }
  return { values: out, count, width, layer };
}

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function checkLength(field: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new CodecError(
      `teacher features: ${field} has length ${actual}, expected ${expected}`,
      'malformed',
    );
  }
}

function wrongArray(field: string, expected: string, got: unknown): CodecError {
  const name =
    typeof got === 'object' && got !== null ? (got.constructor?.name ?? 'object') : typeof got;
  return new CodecError(
    `teacher features: ${field} must be a ${expected}, got ${name}`,
    'wrong-type',
  );
}
