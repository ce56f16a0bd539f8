/**
 * Two WebAssembly SIMD kernels for the hot loops over float32 weight vectors:
 * the NaN / ±Infinity test and the float64 running sum of FedAvg.
 *
 * Why WebAssembly: V8 neither unrolls nor vectorises JavaScript loops, so the
 * best scalar finiteness scan handles about one element per iteration, slower
 * than copying the same bytes. A 128-bit SIMD loop tests 16 weights per
 * iteration; copying a block into the module's memory first is a memcpy, so
 * copy + test still beats the scalar scan (the bench's agg.fedavg and
 * agg.fedavg-scalar rows measure both paths side by side, scan included).
 * FedAvg's `sum[i] += weight · update[i]` likewise runs two float64 lanes per
 * instruction, with the same IEEE operations in the same order (promote,
 * multiply, add; no fused multiply-add), so sums are bit-identical to the
 * JavaScript loop.
 *
 * The module is assembled here from its opcodes (two short functions, no
 * build step, no dependency). Where WebAssembly or its SIMD extension is missing
 * (old browsers, a CSP without 'wasm-unsafe-eval'), {@link simdAvailable} is
 * false and callers keep their JavaScript loops.
 */

/** Float32 elements copied into the module's memory per call: 64 KiB, one wasm page, L2-resident. */
export const SIMD_BLOCK = 16_384;
const PAGE_BYTES = 65_536;

/** The two exported functions of the module. */
interface KernelExports {
  /**
   * 1 if some float32 in [start, end) (byte addresses, 64-byte multiples
   * apart, end > start) has all exponent bits set (NaN or ±Infinity), else 0.
   */
  nonFinite(start: number, end: number): number;
  /**
   * f64 sum[k] += weight · f64(update[k]) for the float32 update at bytes
   * [update, updateEnd) (32-byte multiples apart, end > start) and the float64
   * sum starting at byte `sum`.
   */
  addScaled(sum: number, update: number, updateEnd: number, weight: number): void;
}

// --- the module, opcode by opcode -------------------------------------------

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;
const SIMD = 0xfd;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_LT_U = 0x49;
const LOOP = 0x03;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;

/** v128.load / v128.store with 16-byte alignment hint and a constant offset (< 128). */
const vload = (offset: number): number[] => [SIMD, 0x00, 4, offset];
const vstore = (offset: number): number[] => [SIMD, 0x0b, 4, offset];
const V128_AND = [SIMD, 0x4e];
const V128_OR = [SIMD, 0x50];
const V128_ANY_TRUE = [SIMD, 0x53];
const I32X4_EQ = [SIMD, 0x37];
const I32X4_SPLAT = [SIMD, 0x11];
const F64X2_SPLAT = [SIMD, 0x14];
const F64X2_PROMOTE_LOW_F32X4 = [SIMD, 0x5f];
const F64X2_ADD = [SIMD, 0xf0, 0x01];
const F64X2_MUL = [SIMD, 0xf2, 0x01];
/** i8x16.shuffle moving float32 lanes 2 and 3 into lanes 0 and 1. */
const HIGH_PAIR_TO_LOW = [SIMD, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

const get = (i: number): number[] => [LOCAL_GET, i];
const i32 = (value: number): number[] => [I32_CONST, ...sleb(value)];
/** Instructions written one per line, flattened into bytes. */
const code = (...lines: (number | number[])[]): number[] => lines.flat();

/** (start, end) → i32: OR of (value & exponent mask) == mask over 16 floats per iteration. */
function nonFiniteBody(): number[] {
  const START = 0;
  const END_ = 1;
  const ACC = 2;
  const MASK = 3;
  const test = (offset: number): number[] =>
    code(get(START), vload(offset), get(MASK), V128_AND, get(MASK), I32X4_EQ);
  // prettier-ignore
  return code(
    [1, 2, V128], // locals ACC, MASK
    i32(0x7f800000), I32X4_SPLAT, LOCAL_SET, MASK,
    LOOP, VOID,
    get(ACC), test(0), test(16), V128_OR, test(32), test(48), V128_OR, V128_OR, V128_OR,
    LOCAL_SET, ACC,
    get(START), i32(64), I32_ADD, LOCAL_TEE, START,
    get(END_), I32_LT_U, BR_IF, 0,
    END,
    get(ACC), V128_ANY_TRUE,
    END,
  );
}

/** (sum, update, updateEnd, weight): sum += weight · promote(update), 8 floats per iteration. */
function addScaledBody(): number[] {
  const SUM = 0;
  const UPDATE = 1;
  const UPDATE_END = 2;
  const WEIGHT = 3;
  const W = 4;
  const X = 5;
  // sum[offset] = sum[offset] + W · promote(the low float pair of `lanes`)
  // prettier-ignore
  const pair = (sumOffset: number, lanes: number[]): number[] => code(
    get(SUM),
    get(SUM), vload(sumOffset),
    get(W), lanes, F64X2_PROMOTE_LOW_F32X4, F64X2_MUL,
    F64X2_ADD,
    vstore(sumOffset),
  );
  // prettier-ignore
  const four = (updateOffset: number, sumOffset: number): number[] => code(
    get(UPDATE), vload(updateOffset), LOCAL_SET, X,
    pair(sumOffset, get(X)),
    pair(sumOffset + 16, code(get(X), get(X), HIGH_PAIR_TO_LOW)),
  );
  // prettier-ignore
  return code(
    [1, 2, V128], // locals W, X
    get(WEIGHT), F64X2_SPLAT, LOCAL_SET, W,
    LOOP, VOID,
    four(0, 0), four(16, 32),
    get(SUM), i32(64), I32_ADD, LOCAL_SET, SUM,
    get(UPDATE), i32(32), I32_ADD, LOCAL_TEE, UPDATE,
    get(UPDATE_END), I32_LT_U, BR_IF, 0,
    END,
    END,
  );
}

/** Signed LEB128 of a 32-bit integer. */
function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** Unsigned LEB128. */
function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (text: string): number[] => [
  ...uleb(text.length),
  ...Array.from(text, (c) => c.charCodeAt(0)),
];

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const bodies = [nonFiniteBody(), addScaledBody()];
  // prettier-ignore
  return Uint8Array.from(code(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    // types: 0 (i32, i32) → i32; 1 (i32, i32, i32, f64) → ()
    section(1, vec([[0x60, 2, I32, I32, 1, I32], [0x60, 4, I32, I32, I32, F64, 0]])),
    // imports: env.memory, at least one page
    section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])),
    section(3, vec([[0], [1]])), // function i has type i
    section(7, vec([[...name('nonFinite'), 0x00, 0], [...name('addScaled'), 0x00, 1]])),
    section(10, vec(bodies.map((b) => [...uleb(b.length), ...b]))),
  ));
}

// --- instances ---------------------------------------------------------------

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    if (typeof WebAssembly === 'object') {
      const bytes = moduleBytes();
      if (WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
    }
  } catch {
    compiled = null; // e.g. compilation refused by a content security policy
  }
  return compiled;
}

/** Whether the SIMD kernels run here (else callers use their JavaScript loops). */
export function simdAvailable(): boolean {
  return kernelModule() !== null;
}

/**
 * One instance over its own memory: a SIMD_BLOCK-float scratch block at byte 0
 * followed by `extraBytes` for the caller (FedAvg's running sum).
 */
export class SimdKernels {
  readonly #exports: KernelExports;
  /** The scratch block the caller copies float32 values into. */
  readonly scratch: Float32Array;
  /** Bytes [extraOffset, extraOffset + extraBytes) of the memory belong to the caller. */
  readonly extraOffset = SIMD_BLOCK * 4;
  readonly memory: WebAssembly.Memory;

  private constructor(module: WebAssembly.Module, extraBytes: number) {
    const pages = Math.ceil((SIMD_BLOCK * 4 + extraBytes) / PAGE_BYTES);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.#exports = instance.exports as unknown as KernelExports;
    this.scratch = new Float32Array(this.memory.buffer, 0, SIMD_BLOCK);
  }

  /**
   * Kernels with `extraBytes` of memory after the scratch block, or null when
   * SIMD is unavailable or the memory cannot be had (wasm32 tops out at 4 GiB).
   */
  static create(extraBytes = 0): SimdKernels | null {
    const module = kernelModule();
    if (module === null) return null;
    if (SIMD_BLOCK * 4 + extraBytes > 65_536 * PAGE_BYTES) return null;
    try {
      return new SimdKernels(module, extraBytes);
    } catch (error) {
      if (error instanceof RangeError) return null; // memory refused
      throw error;
    }
  }

  /**
   * Copies values[start, start + count) (count ≤ SIMD_BLOCK) into the scratch
   * block, zero-padded to a multiple of 16 floats, and returns the padded count.
   */
  load(values: Float32Array, start: number, count: number): number {
    this.scratch.set(values.subarray(start, start + count));
    const padded = (count + 15) & ~15;
    if (padded !== count) this.scratch.fill(0, count, padded);
    return padded;
  }

  /** Whether the first `padded` floats of the scratch block hold a NaN or ±Infinity. */
  scratchHasNonFinite(padded: number): boolean {
    return padded > 0 && this.#exports.nonFinite(0, padded * 4) !== 0;
  }

  /** float64 sum at byte `sumOffset` += weight · scratch[0, padded). */
  addScratchScaled(sumOffset: number, padded: number, weight: number): void {
    if (padded > 0) this.#exports.addScaled(sumOffset, 0, padded * 4, weight);
  }
}
