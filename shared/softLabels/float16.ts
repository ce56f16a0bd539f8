/**
 * IEEE 754 binary16 ("half") conversion for typed arrays, so soft labels and
 * weights can travel at half the bytes. JavaScript has no Float16Array in the
 * Node versions we support, so halves are carried as their raw bit patterns in
 * a Uint16Array.
 *
 * Rounding is round-to-nearest, ties-to-even (the IEEE default), including
 * into the subnormal range. Magnitudes that round above 65504 become ±Infinity,
 * NaN stays NaN (quiet, payload truncated) and the sign of zero is kept.
 *
 * Error bounds (for finite inputs that do not overflow):
 * - |x| ≥ 2^-14 (normal halves): relative error ≤ 2^-11 ≈ 4.88e-4;
 * - |x| < 2^-14 (subnormal halves): absolute error ≤ 2^-25 ≈ 2.98e-8.
 */

/** Largest finite half-precision value. */
export const FLOAT16_MAX = 65504;

/**
 * Converts float32 values to half-precision bit patterns.
 * `src[i]` → `out[i]`, same length; see the module comment for rounding.
 */
export function float32ToFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  float32ToFloat16Into(src, out);
  return out;
}

/**
 * float32ToFloat16 into `out` (at least `src.length` long). Returns a value
 * with bit 15 (0x8000) set when some result is ±Infinity or NaN (a non-finite
 * input or an overflow), so a caller can validate without a second pass.
 */
export function float32ToFloat16Into(src: Float32Array, out: Uint16Array): number {
  // A Float32Array's byteOffset is always a multiple of 4, so this view is valid.
  // Int32 (not Uint32) bits keep every operation below in V8's int32 fast path.
  const bits = new Int32Array(src.buffer, src.byteOffset, src.length);
  const n = bits.length;
  let carry = 0;
  for (let i = 0; i < n; i++) {
    const h = float32BitsToHalf(bits[i] as number);
    out[i] = h;
    carry |= (h & 0x7c00) + 0x0400;
  }
  return carry;
}

/**
 * Converts half-precision bit patterns back to float32. Exact: every half
 * value (subnormals included) is representable as a float32.
 */
export function float16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  float16ToFloat32Into(src, out);
  return out;
}

/**
 * float16ToFloat32 into `out` (at least `src.length` long), by table lookup.
 * Returns a value with bit 15 (0x8000) set when some input is ±Infinity or
 * NaN, so a caller can validate in the same pass.
 */
export function float16ToFloat32Into(src: Uint16Array, out: Float32Array): number {
  const table = halfTable();
  const bits = new Int32Array(out.buffer, out.byteOffset, out.length);
  const n = src.length;
  let carry = 0;
  for (let i = 0; i < n; i++) {
    const h = src[i] as number;
    bits[i] = table[h] as number;
    carry |= (h & 0x7c00) + 0x0400;
  }
  return carry;
}

/** Set in a carry from float32ToFloat16Into / float16ToFloat32Into when some half is not finite. */
export const HALF_NON_FINITE_CARRY = 0x8000;

let table: Int32Array | undefined;
/** float32 bits of each of the 65536 halves (256 KiB, built on first use). */
function halfTable(): Int32Array {
  if (table === undefined) {
    table = new Int32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat32Bits(h) | 0;
  }
  return table;
}

/** True when the half bit pattern is ±Infinity or NaN (exponent all ones). */
export function isHalfNonFinite(h: number): boolean {
  return (h & 0x7c00) === 0x7c00;
}

/**
 * One float32 bit pattern (as a signed or unsigned 32-bit integer) → half bits.
 * Integer-only, and the common case (a normal half) takes two branches.
 */
export function float32BitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const a = f & 0x7fffffff; // |x|'s bits
  if (a >= 0x38800000) {
    // |x| ≥ 2^-14: a normal half, unless it overflows or is not finite.
    if (a >= 0x47800000) {
      // Unbiased exponent > 15. NaN keeps its top payload bits and is forced
      // quiet (bit 9) so it can never collapse into Infinity; everything
      // else (Infinity, overflow) becomes ±Infinity.
      return a > 0x7f800000 ? sign | 0x7e00 | ((a & 0x7fffff) >>> 13) : sign | 0x7c00;
    }
    // Rebias the exponent (127 → 15: subtract 112 << 23), keep 10 mantissa
    // bits and round the 13 dropped ones to nearest even: adding 0xfff plus
    // the kept lowest bit carries into bit 13 exactly when rounding up. A
    // carry out of the mantissa correctly bumps the exponent, and from
    // exponent 30 with a full mantissa it lands exactly on Infinity (0x7c00).
    const r = a - 0x38000000;
    const h = r >>> 13;
    return sign | (h + ((0xfff + (h & 1) + (r & 0x1fff)) >>> 13));
  }
  if (a < 0x33000000) return sign; // below half the smallest subnormal (2^-25): ±0
  // Subnormal half: value = m · 2^-24 with m = significand · 2^(e+1).
  // The float32 significand (implicit 1 included) has 24 bits; shift by r ∈ [14, 24].
  const e = (a >>> 23) - 127;
  const significand = (a & 0x7fffff) | 0x800000;
  const r = -e - 1;
  let m = significand >>> r;
  const rest = significand & ((1 << r) - 1);
  const half = 1 << (r - 1);
  if (rest > half || (rest === half && (m & 1) === 1)) m += 1; // may become 0x400: smallest normal, correct
  return sign | m;
}

/** Half bits → float32 bit pattern (as an unsigned 32-bit integer). */
export function halfToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) {
    return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  }
  if (exp !== 0) {
    return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  }
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise into a float32 normal (every one fits).
  let m = mant;
  let e = -14;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e -= 1;
  }
  return (sign | ((e + 127) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}
