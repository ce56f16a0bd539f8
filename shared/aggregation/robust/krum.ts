/**
 * Krum and multi-Krum (Blanchard et al. 2017, "Machine learning with
 * adversaries: Byzantine tolerant gradient descent"). Each update i gets the
 * score Σ ‖uᵢ − uⱼ‖² over its n − f − 2 nearest other updates; Krum returns the
 * update with the lowest score, multi-Krum the mean of the m lowest. With
 * n ≥ 2f + 3 and at most f Byzantine updates, the selected update is close to
 * a cluster of honest ones, so an outlier of any size is never chosen over it.
 *
 * Every update counts once (numSamples is self-reported and ignored). Needs all
 * updates in memory; O(n² · d) for the pairwise distances.
 */
import { AggregationError } from '../fedAvg.js';
import type { Aggregator } from './aggregator.js';
import { checkUpdates, requireOption, sortSmall } from './aggregator.js';

export interface KrumOptions {
  /**
   * Byzantine updates assumed among the n of a round. Defaults to the most the
   * round allows, ⌊(n − 3)/2⌋.
   */
  f: number;
  /** Updates selected and averaged: 1 is Krum, more is multi-Krum (at most n − f). Defaults to 1. */
  m: number;
}

/** Which updates Krum selects and why. */
export interface KrumSelection {
  /** Indices of the m selected updates, lowest score first. */
  selected: number[];
  /** Each update's score (sum of squared distances to its n − f − 2 nearest others). */
  scores: Float64Array;
}

/** The default f for n updates: ⌊(n − 3)/2⌋ (0 when n < 3). */
export function maxKrumF(n: number): number {
  return Math.max(0, Math.floor((n - 3) / 2));
}

/**
 * Scores every update and picks the m best. Inputs must already be validated
 * (equal lengths, finite).
 *
 * @throws AggregationError `too-few` unless n ≥ 2f + 3 and 1 ≤ m ≤ n − f.
 */
export function krumSelect(deltas: readonly Float32Array[], f: number, m: number): KrumSelection {
  const n = deltas.length;
  if (n < 2 * f + 3) {
    throw new AggregationError(
      `krum with f=${f} needs at least ${2 * f + 3} updates, got ${n}`,
      'too-few',
    );
  }
  if (m > n - f) {
    throw new AggregationError(`krum: m=${m} exceeds n − f = ${n - f}`, 'too-few');
  }
  const dist = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = deltas[i] as Float32Array;
    for (let j = i + 1; j < n; j++) {
      const b = deltas[j] as Float32Array;
      let s = 0;
      for (let k = 0; k < a.length; k++) {
        const d = (a[k] as number) - (b[k] as number);
        s += d * d;
      }
      dist[i * n + j] = s;
      dist[j * n + i] = s;
    }
  }
  const neighbours = n - f - 2;
  const scores = new Float64Array(n);
  const row = new Float64Array(n - 1);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) if (j !== i) row[c++] = dist[i * n + j] as number;
    sortSmall(row, n - 1);
    let s = 0;
    for (let k = 0; k < neighbours; k++) s += row[k] as number;
    scores[i] = s;
  }
  // Stable: ties go to the lower index, so the choice is deterministic.
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (x, y) => (scores[x] as number) - (scores[y] as number) || x - y,
  );
  return { selected: order.slice(0, m), scores };
}

/**
 * Krum (m = 1, name 'krum') or multi-Krum (m > 1, name 'multi-krum'): the
 * unweighted mean of the selected updates.
 *
 * @throws AggregationError `bad-option` for f < 0 or m < 1 (non-integers too);
 *   `aggregate` throws `too-few` when the round has fewer than 2f + 3 updates.
 */
export function krum(options: Readonly<Partial<KrumOptions>> = {}): Aggregator {
  const { f: fixedF, m = 1 } = options;
  requireOption(
    fixedF === undefined || (Number.isInteger(fixedF) && fixedF >= 0),
    `krum: f must be an integer ≥ 0, got ${fixedF}`,
  );
  requireOption(Number.isInteger(m) && m >= 1, `krum: m must be an integer ≥ 1, got ${m}`);
  const name = m === 1 ? 'krum' : 'multi-krum';
  return {
    name,
    aggregate(updates) {
      const length = checkUpdates(updates, name);
      const deltas = updates.map((u) => u.delta);
      const f = fixedF ?? maxKrumF(deltas.length);
      const { selected } = krumSelect(deltas, f, m);
      const sum = new Float64Array(length);
      for (const i of selected) {
        const d = deltas[i] as Float32Array;
        for (let k = 0; k < length; k++) sum[k] = (sum[k] as number) + (d[k] as number);
      }
      const out = new Float32Array(length);
      for (let k = 0; k < length; k++) out[k] = (sum[k] as number) / selected.length;
      return out;
    },
  };
}
