/**
 * Coordinate-wise median (Yin et al. 2018, "Byzantine-robust distributed
 * learning"): each parameter of the aggregate is the median of that parameter
 * over the clients' updates. Breakdown point 1/2: while fewer than half the
 * updates are corrupted, every coordinate stays between two honest values,
 * however large the corrupted ones are.
 *
 * Every update counts once (numSamples is self-reported and ignored). Needs all
 * updates in memory; O(d · n log n) for n updates of d parameters.
 */
import type { Aggregator } from './aggregator.js';
import { checkUpdates, coordinatewise } from './aggregator.js';

/** Median of the first `n` sorted values; the mean of the two middle ones for even n. */
function medianOfSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  if (n % 2 === 1) return sorted[mid] as number;
  return ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The coordinate-wise median aggregator, name 'median'. */
export function coordinateMedian(): Aggregator {
  return {
    name: 'median',
    aggregate(updates) {
      const length = checkUpdates(updates, 'median');
      return coordinatewise(updates, length, medianOfSorted);
    },
  };
}
