/**
 * Rényi-DP accountant for the (Poisson-)subsampled Gaussian mechanism, the
 * standard accountant of DP-SGD and DP-FedAvg.
 *
 * - Gaussian mechanism with noise multiplier σ (noise std / L2 sensitivity):
 *   RDP ε(α) = α / (2σ²) at every order α > 1 (Mironov 2017, Prop. 7).
 * - Sampled with probability q < 1 (each record, or each client, joins a step
 *   independently with probability q): ε(α) = log A_α / (α − 1), with A_α
 *   computed exactly for integer α by the binomial sum and, for fractional α,
 *   by the two-sided series with erfc terms, both from Mironov, Talwar & Zhang
 *   2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", §3.3.
 * - T steps compose additively: ε_T(α) = T·ε(α) (Mironov 2017, Prop. 1).
 * - Conversion to (ε, δ)-DP, minimised over the orders:
 *   'improved' (default): ε = ε(α) + log(1 − 1/α) − (log δ + log α)/(α − 1)
 *   (Canonne, Kamath & Steinke 2020, Prop. 12; Balle et al. 2020, Thm. 21), the
 *   conversion TensorFlow Privacy / dp_accounting use;
 *   'classic': ε = ε(α) + log(1/δ)/(α − 1) (Mironov 2017, Prop. 3).
 *
 * Neighbouring relation: add or remove one record (one client, for client-level
 * DP) whose contribution is clipped to the sensitivity the noise multiplier is
 * relative to.
 */
import { PrivacyError } from './errors.js';
import { logAdd, logErfc, logSub } from './logMath.js';

/**
 * The orders TensorFlow Privacy's compute_dp_sgd_privacy evaluates:
 * 1.25 … 4.5, every integer 5 … 63, then 128, 256, 512.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  1.25,
  1.5,
  1.75,
  2,
  2.25,
  2.5,
  3,
  3.5,
  4,
  4.5,
  ...Array.from({ length: 59 }, (_, i) => i + 5),
  128,
  256,
  512,
]);

/** How RDP turns into (ε, δ)-DP; see the module comment. */
export type RdpConversion = 'improved' | 'classic';

/** One kind of step: the Gaussian mechanism on a Poisson sample. */
export interface SampledGaussian {
  /** Noise standard deviation divided by the L2 sensitivity (the clip norm), ≥ 0. */
  noiseMultiplier: number;
  /** Probability q in [0, 1] that a record (client) takes part in a step. */
  samplingRate: number;
}

/** An (ε, δ) guarantee and the RDP order that gave it. */
export interface PrivacySpent {
  epsilon: number;
  delta: number;
  /** The minimising order α (NaN when every order gave ε = ∞). */
  order: number;
}

function checkMechanism({ noiseMultiplier, samplingRate }: SampledGaussian): void {
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) {
    throw new PrivacyError(`noiseMultiplier must be finite and ≥ 0, got ${noiseMultiplier}`);
  }
  if (!(samplingRate >= 0 && samplingRate <= 1)) {
    throw new PrivacyError(`samplingRate must be in [0, 1], got ${samplingRate}`);
  }
}

function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0) throw new PrivacyError('at least one RDP order is needed');
  for (const a of orders) {
    if (!(a > 1)) throw new PrivacyError(`RDP orders must be > 1, got ${a}`);
  }
}

/** log A_α for integer α ≥ 2, 0 < q < 1: log Σᵢ C(α,i)·qⁱ(1−q)^{α−i}·exp((i²−i)/(2σ²)). */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logA = -Infinity;
  let logBinom = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const term = logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma * sigma);
    logA = logAdd(logA, term);
  }
  return logA;
}

/**
 * log A_α for fractional α, 0 < q < 1: the integral split at
 * z₀ = σ²·log(1/q − 1) + ½ and each side expanded with generalized binomial
 * coefficients, summed until the terms fall below e⁻³⁰.
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let logAbsBinom = 0; // log |C(α, 0)|
  let positive = true;
  for (let i = 0; i < 100_000; i++) {
    if (i > 0) {
      const factor = (alpha - i + 1) / i;
      logAbsBinom += Math.log(Math.abs(factor));
      if (factor < 0) positive = !positive;
    }
    const j = alpha - i;
    const logT0 = logAbsBinom + i * logQ + j * log1mQ;
    const logT1 = logAbsBinom + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / sqrt2Sigma);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / sqrt2Sigma);
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (positive) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

/** RDP ε(α) of ONE step of the sampled Gaussian mechanism (∞ allowed). */
export function rdpOfSampledGaussian(mechanism: SampledGaussian, alpha: number): number {
  checkMechanism(mechanism);
  if (!(alpha > 1)) throw new PrivacyError(`RDP order must be > 1, got ${alpha}`);
  const { noiseMultiplier: sigma, samplingRate: q } = mechanism;
  if (q === 0) return 0;
  if (sigma === 0 || alpha === Infinity) return Infinity;
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha)
    ? logAInteger(q, sigma, alpha)
    : logAFractional(q, sigma, alpha);
  return logA / (alpha - 1);
}

/**
 * RDP of `steps` compositions of the sampled Gaussian mechanism at each order.
 * @throws PrivacyError for parameters outside their domain.
 */
export function computeRdp(
  options: Readonly<SampledGaussian & { steps: number; orders?: readonly number[] }>,
): Float64Array {
  const { steps } = options;
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  checkOrders(orders);
  if (!(steps >= 0) || !Number.isFinite(steps)) {
    throw new PrivacyError(`steps must be finite and ≥ 0, got ${steps}`);
  }
  return Float64Array.from(orders, (a) =>
    steps === 0 ? 0 : steps * rdpOfSampledGaussian(options, a),
  );
}

/**
 * The smallest ε over the orders such that the mechanism with these RDP values
 * is (ε, δ)-DP.
 * @throws PrivacyError for δ outside (0, 1), mismatched lengths, orders ≤ 1 or negative RDP.
 */
export function epsilonFromRdp(
  orders: readonly number[],
  rdp: ArrayLike<number>,
  delta: number,
  conversion: RdpConversion = 'improved',
): PrivacySpent {
  checkOrders(orders);
  if (orders.length !== rdp.length) {
    throw new PrivacyError(`${orders.length} orders but ${rdp.length} RDP values`);
  }
  if (!(delta > 0 && delta < 1)) throw new PrivacyError(`delta must be in (0, 1), got ${delta}`);
  let best = Infinity;
  let bestOrder = NaN;
  orders.forEach((a, k) => {
    const r = rdp[k] as number;
    if (!(r >= 0)) throw new PrivacyError(`RDP values must be ≥ 0, got ${r} at order ${a}`);
    let eps: number;
    if (conversion === 'classic') {
      eps = r - Math.log(delta) / (a - 1);
    } else if (delta * delta + Math.expm1(-r) > 0) {
      // δ ≥ √(1 − e^{−KL}) (Pinsker-type bound via KL ≤ ε(α)): ε = 0 already suffices.
      eps = 0;
    } else if (a > 1.01) {
      eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    } else {
      // The improved bound is numerically unstable as α → 1 and useless there.
      eps = Infinity;
    }
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  });
  return { epsilon: Math.max(0, best), delta, order: bestOrder };
}

export interface ComputeEpsilonOptions extends SampledGaussian {
  /** Steps (DP-SGD iterations, or federated rounds for client-level DP), ≥ 0. */
  steps: number;
  /** Target δ in (0, 1). */
  delta: number;
  /** RDP orders (each > 1) to minimise over. Defaults to {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
  /** Defaults to 'improved'. */
  conversion?: RdpConversion;
}

/**
 * ε at δ after `steps` rounds of the Gaussian mechanism with noise multiplier σ
 * on a Poisson sample of rate q. Example (TensorFlow Privacy's tutorial):
 * q = 256/60000, σ = 1.1, steps = ⌈60·60000/256⌉ = 14063, δ = 1e-5 → ε ≈ 2.9.
 *
 * @throws PrivacyError for parameters outside their domain.
 */
export function computeEpsilon(options: Readonly<ComputeEpsilonOptions>): PrivacySpent {
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  const rdp = computeRdp({ ...options, orders });
  return epsilonFromRdp(orders, rdp, options.delta, options.conversion ?? 'improved');
}

/**
 * Running RDP total across steps that may differ (noise, sampling rate), e.g.
 * one `compose` per federated round; ε can be read at any time.
 */
export class RdpAccountant {
  readonly orders: readonly number[];
  readonly #rdp: Float64Array;
  #steps = 0;

  /** @param options.orders RDP orders (each > 1). Defaults to {@link DEFAULT_RDP_ORDERS}. */
  constructor(options: Readonly<Partial<{ orders: readonly number[] }>> = {}) {
    const orders = options.orders ?? DEFAULT_RDP_ORDERS;
    checkOrders(orders);
    this.orders = Object.freeze(orders.slice());
    this.#rdp = new Float64Array(orders.length);
  }

  /** Adds `steps` (default 1) steps of the given mechanism. Nothing changes when it throws. */
  compose(mechanism: Readonly<SampledGaussian>, steps = 1): void {
    const add = computeRdp({ ...mechanism, steps, orders: this.orders });
    for (let k = 0; k < add.length; k++)
      this.#rdp[k] = (this.#rdp[k] as number) + (add[k] as number);
    this.#steps += steps;
  }

  /** Steps composed so far. */
  get steps(): number {
    return this.#steps;
  }

  /** The accumulated RDP at each order (a copy). */
  rdp(): Float64Array {
    return Float64Array.from(this.#rdp);
  }

  /** (ε, δ) spent so far. Defaults to the 'improved' conversion. */
  getEpsilon(delta: number, conversion: RdpConversion = 'improved'): PrivacySpent {
    return epsilonFromRdp(this.orders, this.#rdp, delta, conversion);
  }
}
