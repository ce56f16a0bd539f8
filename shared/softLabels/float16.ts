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
  // A Float32Array's byteOffset is always a multiple of 4, so this view is valid.
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    out[i] = float32BitsToHalf(bits[i] as number);
  }
  return out;
}

/**
 * Converts half-precision bit patterns back to float32. Exact: every half
 * value (subnormals included) is representable as a float32.
 */
export function float16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) {
    bits[i] = halfToFloat32Bits(src[i] as number);
  }
  return out;
}

/** True when the half bit pattern is ±Infinity or NaN (exponent all ones). */
export function isHalfNonFinite(h: number): boolean {
  return (h & 0x7c00) === 0x7c00;
}

/** One float32 bit pattern (as an unsigned 32-bit integer) → half bits. */
export function float32BitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;

  if (exp === 0xff) {
    // Infinity keeps a zero mantissa; NaN keeps its top payload bits and is
    // forced quiet (bit 9) so it can never collapse into Infinity.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127; // unbiased exponent
  if (e > 15) return sign | 0x7c00; // overflow → ±Infinity
  if (e >= -14) {
    // Normal half: keep 10 mantissa bits, round the 13 dropped bits to nearest even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) {
      // A carry out of the mantissa correctly bumps the exponent, and from
      // exponent 30 with a full mantissa it lands exactly on Infinity (0x7c00).
      h += 1;
    }
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal (2^-25): ±0
  // Subnormal half: value = m · 2^-24 with m = significand · 2^(e+1).
  // The float32 significand (implicit 1 included) has 24 bits; shift by r ∈ [14, 24].
  const significand = mant | 0x800000;
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
