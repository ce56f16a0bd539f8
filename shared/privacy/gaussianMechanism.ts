/**
 * Client-side differential privacy for a weight update: clip it to an L2 norm
 * bound C, then add Gaussian noise N(0, (σ·C)²) to every coordinate (the
 * Gaussian mechanism on the clipped update; DP-FedAvg, McMahan et al. 2018).
 *
 * What it guarantees depends on what the coordinator sees. Account with
 * {@link computeEpsilon} / {@link RdpAccountant}, one step per round the
 * client takes part in:
 * - It sees each noised update: replacing the client's data moves the clipped
 *   update by at most 2C, so the release is the Gaussian mechanism with noise
 *   multiplier σ/2 (sampling rate 1).
 * - It sees only the SUM of n noised updates (secure aggregation): the sum's
 *   noise has std σ·C·√n, so the same replace-one bound gives multiplier σ·√n/2.
 * Amplification by sampling (samplingRate < 1) is the accountant's
 * add/remove-one model with Poisson sampling: use it only where clients are
 * sampled that way and the noise on the sum is what the multiplier says.
 *
 * Caveats: the noise comes from the seeded `Rng` (sfc32 + Box–Muller), which
 * is reproducible but not a cryptographic source: seed it from
 * {@link secureSeed} in deployments, never from a value the coordinator knows.
 * Like most DP libraries, float64 sampling is not hardened against the
 * floating-point attack of Mironov (2012).
 */
import { clipToNorm } from '../aggregation/robust/normClipping.js';
import type { Rng } from '../data/rng.js';
import { PrivacyError } from './errors.js';

export interface ClipAndNoiseOptions {
  /** L2 norm bound C the update is clipped to, finite and > 0. */
  clipNorm: number;
  /** σ: the noise std is σ·C per coordinate; finite and ≥ 0 (0 only clips). */
  noiseMultiplier: number;
  /** Source of the Gaussian draws (`rng.normal()`). */
  rng: Rng;
}

/**
 * `delta` clipped to L2 norm ≤ clipNorm, plus independent N(0, (σ·clipNorm)²)
 * noise on each coordinate, as a new Float32Array (the input is untouched).
 *
 * @throws PrivacyError for a clipNorm or noiseMultiplier outside its domain, or
 *   a non-finite value in `delta` (its index named).
 */
export function clipAndNoise(
  delta: Float32Array,
  options: Readonly<ClipAndNoiseOptions>,
): Float32Array {
  const { clipNorm, noiseMultiplier, rng } = options;
  if (!(clipNorm > 0) || !Number.isFinite(clipNorm)) {
    throw new PrivacyError(`clipNorm must be finite and > 0, got ${clipNorm}`);
  }
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new PrivacyError(`noiseMultiplier must be finite and ≥ 0, got ${noiseMultiplier}`);
  }
  for (let i = 0; i < delta.length; i++) {
    if (!Number.isFinite(delta[i])) throw new PrivacyError(`update value ${i} is ${delta[i]}`);
  }
  const out = clipToNorm(delta, clipNorm);
  const std = noiseMultiplier * clipNorm;
  if (std > 0)
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + std * rng.normal();
  return out;
}

/**
 * A seed for `createRng` drawn from the platform's cryptographic generator
 * (`globalThis.crypto.getRandomValues`, in Node ≥ 20 and browsers): a uniform
 * safe integer of 53 bits.
 */
export function secureSeed(): number {
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return ((words[0] as number) & 0x1fffff) * 2 ** 32 + (words[1] as number);
}
