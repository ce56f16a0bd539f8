/**
 * Finding the first NaN / ±Infinity in a float32 vector at close to memory
 * speed. Every weight set crossing the wire and every update folded into an
 * aggregate is checked, so this loop is on the codec's and FedAvg's hot path.
 *
 * Why bit tests rather than Number.isFinite: a float32 is non-finite exactly
 * when its 8 exponent bits are all ones. `(bits & 0x7f800000) + 0x00800000`
 * carries into bit 31 for those values only, so OR-ing that over a block and
 * testing the sign once per block is a branch-free integer loop (no float
 * conversion per element); only a block that fails is scanned again to name
 * the exact index.
 */

const EXPONENT_MASK = 0x7f800000;
const EXPONENT_CARRY = 0x00800000;
/** Elements per block: small enough to stay in L1 for the rescan, large enough to amortise the test. */
const BLOCK = 4096;

/**
 * Index of the first non-finite value of `values`, or -1 when all are finite.
 * Works on any Float32Array view (any byteOffset, any length, including 0).
 */
export function firstNonFinite(values: Float32Array): number {
  // A Float32Array's byteOffset is a multiple of 4, so an Int32Array over the same bytes is valid.
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  return firstNonFiniteBits(bits);
}

function firstNonFiniteBits(bits: Int32Array): number {
  const length = bits.length;
  for (let start = 0; start < length; start += BLOCK) {
    const end = Math.min(start + BLOCK, length);
    let carry = 0;
    for (let i = start; i < end; i++) {
      carry |= ((bits[i] as number) & EXPONENT_MASK) + EXPONENT_CARRY;
    }
    if (carry < 0) {
      for (let i = start; i < end; i++) {
        if (((bits[i] as number) & EXPONENT_MASK) === EXPONENT_MASK) return i;
      }
    }
  }
  return -1;
}
