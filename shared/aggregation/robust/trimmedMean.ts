/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): for each parameter, drop the
 * ⌊β·n⌋ largest and ⌊β·n⌋ smallest values across the n updates and average the
 * rest. Tolerates up to ⌊β·n⌋ corrupted updates per coordinate: any value they
 * send is either trimmed or lies between honest values.
 *
 * Every update counts once (numSamples is self-reported and ignored). Needs all
 * updates in memory; O(d · n log n).
 */
import type { Aggregator } from './aggregator.js';
import { checkUpdates, coordinatewise, requireOption } from './aggregator.js';

export interface TrimmedMeanOptions {
  /** Fraction trimmed from EACH side, in [0, 0.5). 0 is the plain (unweighted) mean. Defaults to 0.2. */
  beta: number;
}

/**
 * The trimmed-mean aggregator, name 'trimmed-mean'.
 * @throws AggregationError `bad-option` for β outside [0, 0.5).
 */
export function trimmedMean(options: Readonly<Partial<TrimmedMeanOptions>> = {}): Aggregator {
  const beta = options.beta ?? 0.2;
  requireOption(beta >= 0 && beta < 0.5, `trimmed mean: beta must be in [0, 0.5), got ${beta}`);
  return {
    name: 'trimmed-mean',
    aggregate(updates) {
      const length = checkUpdates(updates, 'trimmed-mean');
      const n = updates.length;
      const k = Math.floor(beta * n);
      // β < 0.5 keeps n − 2k ≥ 1 for every n ≥ 1.
      const kept = n - 2 * k;
      return coordinatewise(updates, length, (sorted) => {
        let sum = 0;
        for (let i = k; i < n - k; i++) sum += sorted[i] as number;
        return sum / kept;
      });
    },
  };
}
