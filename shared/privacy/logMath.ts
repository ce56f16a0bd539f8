/**
 * Log-space arithmetic and log erfc for the RDP accountant: the sums it needs
 * span hundreds of orders of magnitude, so they are carried as logarithms.
 */
import { PrivacyError } from './errors.js';

/** log(eˣ + eʸ), exact at −∞ (log 0). */
export function logAdd(x: number, y: number): number {
  const hi = Math.max(x, y);
  const lo = Math.min(x, y);
  if (lo === -Infinity) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/**
 * log(eˣ − eʸ) for x ≥ y (−∞ when equal).
 * @throws PrivacyError when x < y (the difference would be negative).
 */
export function logSub(x: number, y: number): number {
  if (x < y) throw new PrivacyError(`log-space subtraction would be negative: ${x} < ${y}`);
  if (y === -Infinity) return x;
  if (x === y) return -Infinity;
  const d = x - y;
  // log(eᵈ − 1) + y; for large d, expm1 overflows but eᵈ − 1 ≈ eᵈ.
  return d > 700 ? x : Math.log(Math.expm1(d)) + y;
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf(x) for 0 ≤ x < 2 by the all-positive series e^{−x²}·Σ 2ⁿx^{2n+1}/(2n+1)!!, no cancellation. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * log(√π·eˣ²·erfc(x)) for x ≥ 2 from the continued fraction
 * erfc(x) = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))), modified Lentz.
 */
function logScaledErfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 5000; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -Math.log(f);
}

/**
 * log(erfc(x)) for any finite x, accurate to ~1e-14 relative, and finite far
 * into the tail (erfc(40) ≈ 1e−697 underflows as a double; its log does not).
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return -Infinity;
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2) return Math.log1p(-erfSeries(x));
  return -x * x - LOG_SQRT_PI + logScaledErfcFraction(x);
}
