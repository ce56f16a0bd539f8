/**
 * The common shape of fedistill's update aggregators, and the checks every one
 * of them runs before looking at a value.
 *
 * Plain FedAvg folds updates in as they arrive (see {@link FedAvgAccumulator});
 * the robust aggregators in this folder (median, trimmed mean, Krum, norm
 * clipping) compare updates with one another, so they need every update of the
 * round in memory at once: O(clients × parameters) floats.
 */
import { AggregationError, FedAvgAccumulator } from '../fedAvg.js';

/** One client's contribution to a round. */
export interface ClientDelta {
  /** The client's weight update (new weights − global weights), flat. */
  readonly delta: Float32Array;
  /** Local training samples, as the client reports it (self-reported: robust aggregators ignore it). */
  readonly numSamples: number;
}

/** Turns one round's client updates into the update applied to the global model. */
export interface Aggregator {
  /** Stable name for logs, metrics and config: 'fedavg', 'median', 'trimmed-mean', 'krum', 'multi-krum', 'norm-clipping'. */
  readonly name: string;
  /**
   * The aggregate of `updates` as a new Float32Array of the same length; the
   * inputs are not modified.
   *
   * @throws AggregationError `empty`, `length-mismatch`, `non-finite`, `bad-weight`
   *   (the offending update's index named), or `too-few` when the aggregator's
   *   guarantee needs more updates than it was given.
   */
  aggregate(updates: readonly ClientDelta[]): Float32Array;
}

/**
 * Validates a round's updates: at least one, equal lengths, finite values,
 * finite positive sample counts. Returns the common length.
 *
 * @throws AggregationError naming the first offending update.
 */
export function checkUpdates(updates: readonly ClientDelta[], who: string): number {
  const first = updates[0];
  if (first === undefined) throw new AggregationError(`${who} needs at least one update`, 'empty');
  const length = first.delta.length;
  updates.forEach((u, i) => {
    if (u.delta.length !== length) {
      throw new AggregationError(
        `${who}: update ${i} has ${u.delta.length} values, expected ${length}`,
        'length-mismatch',
      );
    }
    if (!(u.numSamples > 0) || !Number.isFinite(u.numSamples)) {
      throw new AggregationError(
        `${who}: update ${i} has numSamples ${u.numSamples}; must be finite and > 0`,
        'bad-weight',
      );
    }
    const d = u.delta;
    for (let j = 0; j < d.length; j++) {
      if (!Number.isFinite(d[j])) {
        throw new AggregationError(`${who}: update ${i} value ${j} is ${d[j]}`, 'non-finite');
      }
    }
  });
  return length;
}

/**
 * Sample-weighted FedAvg (the non-robust baseline) behind the {@link Aggregator}
 * interface. One round's updates are still folded in one at a time.
 */
export function fedAvgAggregator(): Aggregator {
  return {
    name: 'fedavg',
    aggregate(updates) {
      const length = checkUpdates(updates, 'fedavg');
      const acc = new FedAvgAccumulator(length);
      for (const u of updates) acc.add(u.delta, u.numSamples);
      return acc.result();
    },
  };
}

/** Sorts `values[0..n)` ascending in place; insertion sort, for the handful of clients per coordinate. */
export function sortSmall(values: Float64Array, n: number): void {
  if (n > 32) {
    values.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const v = values[i] as number;
    let j = i - 1;
    while (j >= 0 && (values[j] as number) > v) {
      values[j + 1] = values[j] as number;
      j--;
    }
    values[j + 1] = v;
  }
}

/** Throws `bad-option` unless `ok`. */
export function requireOption(ok: boolean, message: string): void {
  if (!ok) throw new AggregationError(message, 'bad-option');
}

/**
 * Applies `reduce` to each coordinate's values across the updates, sorted
 * ascending (float64 copies), and collects the results.
 */
export function coordinatewise(
  updates: readonly ClientDelta[],
  length: number,
  reduce: (sorted: Float64Array) => number,
): Float32Array {
  const n = updates.length;
  const deltas = updates.map((u) => u.delta);
  const column = new Float64Array(n);
  const out = new Float32Array(length);
  for (let j = 0; j < length; j++) {
    for (let i = 0; i < n; i++) column[i] = (deltas[i] as Float32Array)[j] as number;
    sortSmall(column, n);
    out[j] = reduce(column);
  }
  return out;
}
