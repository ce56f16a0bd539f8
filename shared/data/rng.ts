import { DistillationInputError } from '../errors.js';

/**
 * A small seeded random source. Everything that draws randomness in fedistill
 * (partitions, splits, shuffles, client sampling) takes one of these, so a run
 * is reproducible from its seed and never touches `Math.random`.
 */
export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n); `n` a positive integer ≤ 2^32. */
  int(n: number): number;
  /** Standard normal N(0, 1) (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number;
  /** Gamma(shape, scale 1), shape > 0 (Marsaglia–Tsang, boosted for shape < 1). */
  gamma(shape: number): number;
  /**
   * A draw from Dirichlet(alphas): non-negative, sums to 1. Computed in log space,
   * so tiny concentrations (α ≪ 1, where gamma draws underflow to 0) still give a
   * valid distribution.
   */
  dirichlet(alphas: ArrayLike<number>): Float64Array;
  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<A extends MutableArrayLike>(arr: A): A;
}

/** Anything indexable and writable: plain arrays and typed arrays. */
export interface MutableArrayLike {
  readonly length: number;
  [index: number]: unknown;
}

const TWO_POW_32 = 4294967296;

/** splitmix32: spreads a seed over the generator's 128-bit state. */
function splitmix32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return t >>> 0;
  };
}

/**
 * Creates a deterministic generator (sfc32, seeded through splitmix32). The same
 * seed gives the same sequence on every platform: only 32-bit integer arithmetic.
 *
 * @param seed any safe integer (negative and > 2^32 seeds are fine and distinct).
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new DistillationInputError(`rng seed must be a safe integer, got ${seed}`);
  }
  const lo = ((seed % TWO_POW_32) + TWO_POW_32) % TWO_POW_32;
  const hi = Math.floor(seed / TWO_POW_32) | 0;
  const mix = splitmix32(lo);
  let a = mix();
  let b = mix();
  let c = mix() ^ splitmix32(hi)();
  let d = mix();

  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: sfc32's state is still correlated with the seed.
  for (let i = 0; i < 12; i++) nextUint32();

  const next = (): number => nextUint32() / TWO_POW_32;

  let spareNormal: number | undefined;
  const normal = (): number => {
    if (spareNormal !== undefined) {
      const z = spareNormal;
      spareNormal = undefined;
      return z;
    }
    const u1 = 1 - next(); // (0, 1]: log stays finite
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };

  /** ln of a Gamma(shape ≥ 1) draw; Marsaglia & Tsang (2000). */
  const gammaAtLeastOne = (shape: number): number => {
    const dd = shape - 1 / 3;
    const cc = 1 / Math.sqrt(9 * dd);
    for (;;) {
      const x = normal();
      let v = 1 + cc * x;
      if (v <= 0) continue;
      v = v * v * v;
      const u = 1 - next();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return dd * v;
      if (Math.log(u) < 0.5 * x2 + dd * (1 - v + Math.log(v))) return dd * v;
    }
  };

  const checkShape = (shape: number): void => {
    if (!(shape > 0) || !Number.isFinite(shape)) {
      throw new DistillationInputError(`gamma shape must be a finite number > 0, got ${shape}`);
    }
  };

  /** ln Gamma(shape) draw; for shape < 1 uses Gamma(a) = Gamma(a+1)·U^(1/a) in log space. */
  const logGamma = (shape: number): number => {
    if (shape >= 1) return Math.log(gammaAtLeastOne(shape));
    return Math.log(gammaAtLeastOne(shape + 1)) + Math.log(1 - next()) / shape;
  };

  return {
    next,
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
        throw new DistillationInputError(`rng.int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
      }
      return Math.floor(next() * n);
    },
    normal,
    gamma(shape: number): number {
      checkShape(shape);
      if (shape >= 1) return gammaAtLeastOne(shape);
      return gammaAtLeastOne(shape + 1) * Math.pow(1 - next(), 1 / shape);
    },
    dirichlet(alphas: ArrayLike<number>): Float64Array {
      const k = alphas.length;
      if (k === 0) throw new DistillationInputError('dirichlet needs at least one alpha');
      const logs = new Float64Array(k);
      let max = -Infinity;
      for (let i = 0; i < k; i++) {
        const alpha = alphas[i] as number;
        checkShape(alpha);
        const l = logGamma(alpha);
        logs[i] = l;
        if (l > max) max = l;
      }
      let sum = 0;
      for (let i = 0; i < k; i++) {
        const e = Math.exp((logs[i] as number) - max);
        logs[i] = e;
        sum += e;
      }
      for (let i = 0; i < k; i++) logs[i] = (logs[i] as number) / sum;
      return logs;
    },
    shuffle<A extends MutableArrayLike>(arr: A): A {
      for (let i = arr.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = arr[i];
        arr[i] = arr[j];
        arr[j] = tmp;
      }
      return arr;
    },
  };
}
