import { DatasetError } from '../errors.js';
import type { Rng } from './rng.js';

/**
 * Partitioners that deal a labelled pool out to simulated clients, each with a
 * different degree of label skew (non-IID-ness), the main knob of federated
 * experiments. Every partitioner returns a disjoint cover of `0..labels.length-1`:
 * each sample goes to exactly one client. Each client's indices are sorted ascending.
 */

/** Class labels: non-negative integers. */
export type Labels = ArrayLike<number>;

function checkLabels(labels: Labels): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    if (!Number.isInteger(y) || y < 0) {
      throw new DatasetError(`label at index ${i} is ${y}; labels must be non-negative integers`);
    }
    if (y > max) max = y;
  }
  return max + 1;
}

function checkCount(name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw new DatasetError(`${name} must be an integer ≥ ${min}, got ${value}`);
  }
}

function checkEnough(n: number, numClients: number, what: string): void {
  if (n < numClients) {
    throw new DatasetError(
      `cannot deal ${n} samples to ${numClients} ${what}: need at least one each`,
    );
  }
}

function sortedParts(parts: number[][]): Int32Array[] {
  return parts.map((p) => Int32Array.from(p).sort());
}

/** Indices of each class, in index order. */
function indicesByClass(labels: Labels, numClasses: number): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) (byClass[labels[i] as number] as number[]).push(i);
  return byClass;
}

/**
 * IID: a seeded shuffle cut into `numClients` near-equal parts (sizes differ by at most 1).
 * @returns indices per client.
 */
export function partitionIid(labels: Labels, numClients: number, rng: Rng): Int32Array[] {
  checkLabels(labels);
  checkCount('numClients', numClients);
  const n = labels.length;
  checkEnough(n, numClients, 'clients');
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const parts: Int32Array[] = [];
  for (let c = 0; c < numClients; c++) {
    const start = Math.floor((c * n) / numClients);
    const end = Math.floor(((c + 1) * n) / numClients);
    parts.push(order.slice(start, end).sort());
  }
  return parts;
}

export interface DirichletOptions {
  /** Smallest client size accepted; a draw that leaves a client smaller is redrawn. Defaults to 1. */
  minPerClient: number;
  /** Draws tried before giving up with a DatasetError. Defaults to 100. */
  maxAttempts: number;
}

/**
 * Dirichlet label skew (Hsu et al. 2019): for each class, proportions over the
 * clients are drawn from Dir(α·1) and that class's samples (shuffled) are cut by
 * them. Small α (0.1) gives each client a few dominant classes; large α (100)
 * approaches IID. Client sizes vary too, as in the usual benchmark setup.
 *
 * A whole draw is repeated while any client gets fewer than `minPerClient`
 * samples, at most `maxAttempts` times; then DatasetError.
 */
export function partitionDirichlet(
  labels: Labels,
  numClients: number,
  alpha: number,
  rng: Rng,
  options: Readonly<Partial<DirichletOptions>> = {},
): Int32Array[] {
  const numClasses = checkLabels(labels);
  checkCount('numClients', numClients);
  if (!(alpha > 0) || !Number.isFinite(alpha)) {
    throw new DatasetError(`dirichlet alpha must be a finite number > 0, got ${alpha}`);
  }
  const minPerClient = options.minPerClient ?? 1;
  const maxAttempts = options.maxAttempts ?? 100;
  checkCount('minPerClient', minPerClient, 0);
  checkCount('maxAttempts', maxAttempts);
  const n = labels.length;
  if (n < numClients * minPerClient) {
    throw new DatasetError(
      `cannot give ${numClients} clients at least ${minPerClient} samples each from ${n} samples`,
    );
  }
  const byClass = indicesByClass(labels, numClasses);
  const alphas = new Float64Array(numClients).fill(alpha);
  let smallest = 0;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const parts: number[][] = Array.from({ length: numClients }, () => []);
    for (const classIndices of byClass) {
      if (classIndices.length === 0) continue;
      const members = rng.shuffle(classIndices.slice());
      const p = rng.dirichlet(alphas);
      let cumulative = 0;
      let start = 0;
      for (let c = 0; c < numClients; c++) {
        cumulative += p[c] as number;
        const end =
          c === numClients - 1
            ? members.length
            : Math.min(members.length, Math.round(cumulative * members.length));
        const part = parts[c] as number[];
        for (let i = start; i < end; i++) part.push(members[i] as number);
        start = Math.max(start, end);
      }
    }
    smallest = Math.min(...parts.map((p) => p.length));
    if (smallest >= minPerClient) return sortedParts(parts);
  }
  throw new DatasetError(
    `dirichlet partition (alpha ${alpha}, ${numClients} clients, ${n} samples) left a client with ` +
      `${smallest} < minPerClient ${minPerClient} samples in all ${maxAttempts} attempts; ` +
      'raise alpha, lower minPerClient or use fewer clients',
  );
}

/**
 * Pathological shards (McMahan et al. 2017): samples sorted by label are cut into
 * `numClients·shardsPerClient` shards, dealt out at random, `shardsPerClient` per client.
 *
 * When there are at least as many shards as classes, shards are cut within
 * classes (each class gets a number of shards proportional to its size, at least
 * one), so no shard straddles two classes and every client holds at most
 * `shardsPerClient` classes — even when class sizes are not multiples of the
 * shard size, as in real data. With fewer shards than classes, the sorted order
 * is cut into equal runs, each spanning several classes.
 */
export function partitionShards(
  labels: Labels,
  numClients: number,
  shardsPerClient: number,
  rng: Rng,
): Int32Array[] {
  const numClasses = checkLabels(labels);
  checkCount('numClients', numClients);
  checkCount('shardsPerClient', shardsPerClient);
  const numShards = numClients * shardsPerClient;
  const n = labels.length;
  checkEnough(n, numShards, 'shards');
  // Within-class order random, classes contiguous.
  const byClass = indicesByClass(labels, numClasses)
    .filter((members) => members.length > 0)
    .map((members) => rng.shuffle(members));

  const shards: number[][] = [];
  if (numShards >= byClass.length) {
    const counts = allocateShards(
      byClass.map((m) => m.length),
      numShards,
    );
    byClass.forEach((members, k) => {
      const m = counts[k] as number;
      for (let s = 0; s < m; s++) {
        const start = Math.floor((s * members.length) / m);
        const end = Math.floor(((s + 1) * members.length) / m);
        shards.push(members.slice(start, end));
      }
    });
  } else {
    const sorted = byClass.flat();
    for (let s = 0; s < numShards; s++) {
      shards.push(
        sorted.slice(Math.floor((s * n) / numShards), Math.floor(((s + 1) * n) / numShards)),
      );
    }
  }
  const order = rng.shuffle(Int32Array.from({ length: numShards }, (_, i) => i));
  const parts: number[][] = [];
  for (let c = 0; c < numClients; c++) {
    const part: number[] = [];
    for (let s = 0; s < shardsPerClient; s++) {
      part.push(...(shards[order[c * shardsPerClient + s] as number] as number[]));
    }
    parts.push(part);
  }
  return sortedParts(parts);
}

/**
 * Splits `total` shards over classes proportionally to `sizes` (largest
 * remainder), at least one and at most `size` shards per class.
 */
function allocateShards(sizes: number[], total: number): number[] {
  const n = sizes.reduce((a, b) => a + b, 0);
  const ideal = sizes.map((s) => (s * total) / n);
  const counts = ideal.map((x, k) => Math.min(sizes[k] as number, Math.max(1, Math.floor(x))));
  let assigned = counts.reduce((a, b) => a + b, 0);
  while (assigned !== total) {
    let best = -1;
    let bestGap = -Infinity;
    for (let k = 0; k < sizes.length; k++) {
      const count = counts[k] as number;
      const gap = (ideal[k] as number) - count;
      const canMove = assigned < total ? count < (sizes[k] as number) : count > 1;
      const score = assigned < total ? gap : -gap;
      if (canMove && score > bestGap) {
        bestGap = score;
        best = k;
      }
    }
    // Unreachable given numClasses ≤ total ≤ n, kept so a bug cannot loop forever.
    if (best < 0) throw new DatasetError(`cannot cut ${n} samples into ${total} class shards`);
    counts[best] = (counts[best] as number) + (assigned < total ? 1 : -1);
    assigned += assigned < total ? 1 : -1;
  }
  return counts;
}

/** Counts of each class among `indices` (all samples when omitted). */
export function labelHistogram(
  labels: Labels,
  indices: ArrayLike<number> | undefined,
  numClasses: number,
): Int32Array {
  checkCount('numClasses', numClasses);
  const hist = new Int32Array(numClasses);
  const count = indices === undefined ? labels.length : indices.length;
  for (let i = 0; i < count; i++) {
    const index = indices === undefined ? i : (indices[i] as number);
    const y = labels[index];
    if (y === undefined || !Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new DatasetError(
        `labelHistogram: index ${index} has label ${y}, outside 0..${numClasses - 1}`,
      );
    }
    hist[y] = (hist[y] as number) + 1;
  }
  return hist;
}

/** How far a partition's clients are from the pool's label distribution. */
export interface LabelSkewSummary {
  /** Mean over non-empty clients of the total-variation distance to the global label distribution, 0..1. */
  readonly mean: number;
  /** Largest such distance. */
  readonly max: number;
  /** Distance per client (NaN for an empty client). */
  readonly perClient: readonly number[];
  /** Number of classes each client holds at least one sample of. */
  readonly classesPerClient: readonly number[];
  /** Samples per client. */
  readonly sizes: readonly number[];
  /** Class counts per client. */
  readonly histograms: readonly Int32Array[];
}

/**
 * Label skew of a partition: total-variation distance ½·Σ|p_client − p_global|
 * per client, and its mean. IID partitions of a few thousand samples score
 * ~0.02; one class per client scores ~0.9 on 10 balanced classes.
 */
export function labelSkew(
  labels: Labels,
  parts: readonly ArrayLike<number>[],
  numClasses?: number,
): LabelSkewSummary {
  const k = numClasses ?? checkLabels(labels);
  const global = labelHistogram(labels, undefined, k);
  const n = labels.length;
  const histograms = parts.map((p) => labelHistogram(labels, p, k));
  const perClient = histograms.map((h, c) => {
    const size = (parts[c] as ArrayLike<number>).length;
    if (size === 0) return NaN;
    let tv = 0;
    for (let j = 0; j < k; j++) tv += Math.abs((h[j] as number) / size - (global[j] as number) / n);
    return tv / 2;
  });
  const defined = perClient.filter((d) => !Number.isNaN(d));
  return {
    mean: defined.length === 0 ? 0 : defined.reduce((a, b) => a + b, 0) / defined.length,
    max: defined.length === 0 ? 0 : Math.max(...defined),
    perClient,
    classesPerClient: histograms.map((h) => h.reduce((a, b) => a + (b > 0 ? 1 : 0), 0)),
    sizes: parts.map((p) => p.length),
    histograms,
  };
}

/** A plain-text table of a partition (one line per client), for logs and test diagnostics. */
export function describePartition(summary: LabelSkewSummary): string {
  const lines = [`label skew: mean TV ${summary.mean.toFixed(3)}, max ${summary.max.toFixed(3)}`];
  summary.histograms.forEach((h, c) => {
    const counts = Array.from(h, (v) => String(v).padStart(5)).join('');
    const tv = summary.perClient[c] as number;
    lines.push(
      `client ${String(c).padStart(3)}: n=${String(summary.sizes[c]).padStart(6)} ` +
        `TV=${Number.isNaN(tv) ? '  -  ' : tv.toFixed(3)} |${counts}`,
    );
  });
  return lines.join('\n');
}

/** A partitioner and its setting, as configs and the CLI name them. */
export type PartitionScheme =
  | { kind: 'iid' }
  | { kind: 'dirichlet'; alpha: number; minPerClient?: number }
  | { kind: 'shards'; perClient: number };

/** Deals `labels` to `numClients` clients by `scheme` (see the partitioners above). */
export function partitionByScheme(
  labels: Labels,
  numClients: number,
  scheme: PartitionScheme,
  rng: Rng,
): Int32Array[] {
  switch (scheme.kind) {
    case 'iid':
      return partitionIid(labels, numClients, rng);
    case 'dirichlet':
      return partitionDirichlet(labels, numClients, scheme.alpha, rng, {
        ...(scheme.minPerClient !== undefined ? { minPerClient: scheme.minPerClient } : {}),
      });
    case 'shards':
      return partitionShards(labels, numClients, scheme.perClient, rng);
  }
}

/**
 * Caps every client at `maxPerClient` samples: a larger part keeps a seeded random
 * subset of its indices (so its label mix stays that of the draw), sorted ascending.
 */
export function capPartSizes(
  parts: readonly Int32Array[],
  maxPerClient: number,
  rng: Rng,
): Int32Array[] {
  checkCount('maxPerClient', maxPerClient);
  return parts.map((part) =>
    part.length <= maxPerClient
      ? part
      : rng.shuffle(part.slice()).subarray(0, maxPerClient).slice().sort(),
  );
}
