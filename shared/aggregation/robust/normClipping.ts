/**
 * Norm clipping (Sun et al. 2019, "Can you really backdoor federated
 * learning?"): every update is scaled down to L2 norm ≤ maxNorm, then the
 * clipped updates are averaged. A corrupted update can move the aggregate by at
 * most maxNorm / n (uniform weights), whatever it sends.
 *
 * Needs all updates in memory when maxNorm is 'median' (the bound is chosen
 * from the round's norms); O(n · d).
 */
import type { Aggregator } from './aggregator.js';
import { checkUpdates, requireOption } from './aggregator.js';

/** L2 norm of a vector, accumulated in float64. */
export function l2Norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    s += v * v;
  }
  return Math.sqrt(s);
}

/**
 * `values` scaled by min(1, maxNorm / ‖values‖₂), as a new Float32Array. The
 * bound holds exactly for the float32 result (its float64 norm is ≤ maxNorm):
 * when float32 rounding would overshoot by an ulp, the scale is nudged down.
 * A vector already within the bound is copied unchanged.
 */
export function clipToNorm(values: Float32Array, maxNorm: number): Float32Array {
  const norm = l2Norm(values);
  const out = Float32Array.from(values);
  if (norm <= maxNorm) return out;
  let scale = maxNorm / norm;
  for (;;) {
    for (let i = 0; i < out.length; i++) out[i] = (values[i] as number) * scale;
    if (l2Norm(out) <= maxNorm) return out;
    scale *= 1 - 2 ** -22;
  }
}

export interface NormClippingOptions {
  /**
   * Largest L2 norm an update keeps, > 0; 'median' uses the median of the
   * round's update norms, so the bound adapts as updates shrink over training
   * while a minority of attackers cannot raise it. Defaults to 'median'.
   */
  maxNorm: number | 'median';
  /**
   * Weight clipped updates by numSamples (FedAvg-style) instead of equally.
   * numSamples is self-reported, so weighting lets a liar buy influence.
   * Defaults to false.
   */
  weighted: boolean;
}

/**
 * The norm-clipping aggregator, name 'norm-clipping'.
 * @throws AggregationError `bad-option` for a maxNorm that is not finite and > 0.
 */
export function normClipping(options: Readonly<Partial<NormClippingOptions>> = {}): Aggregator {
  const maxNorm = options.maxNorm ?? 'median';
  const weighted = options.weighted ?? false;
  requireOption(
    maxNorm === 'median' || (maxNorm > 0 && Number.isFinite(maxNorm)),
    `norm clipping: maxNorm must be 'median' or finite and > 0, got ${maxNorm}`,
  );
  return {
    name: 'norm-clipping',
    aggregate(updates) {
      const length = checkUpdates(updates, 'norm-clipping');
      const norms = updates.map((u) => l2Norm(u.delta));
      let bound: number;
      if (maxNorm === 'median') {
        const sorted = norms.slice().sort((a, b) => a - b);
        const mid = sorted.length >> 1;
        bound =
          sorted.length % 2 === 1
            ? (sorted[mid] as number)
            : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
      } else {
        bound = maxNorm;
      }
      const sum = new Float64Array(length);
      let total = 0;
      updates.forEach((u, i) => {
        const norm = norms[i] as number;
        const w = weighted ? u.numSamples : 1;
        // norm 0 (or a zero median bound): nothing to add beyond zeros.
        const scale = norm > bound ? bound / norm : 1;
        const d = u.delta;
        for (let k = 0; k < length; k++) sum[k] = (sum[k] as number) + w * scale * (d[k] as number);
        total += w;
      });
      const out = new Float32Array(length);
      for (let k = 0; k < length; k++) out[k] = (sum[k] as number) / total;
      return out;
    },
  };
}
