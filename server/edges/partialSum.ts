/**
 * A partial sample-weighted sum of weight deltas (Bonawitz et al. 2019,
 * "Towards Federated Learning at Scale": aggregators fold partial sums, the
 * master keeps the round's state). An edge folds its clients' accepted deltas
 * into one; the master folds the edges' partials (and any directly connected
 * client's delta) into the round's total, whose mean is FedAvg's mean delta.
 *
 * Sums are float64, as FedAvgAccumulator's: the order clients arrive in
 * changes the result only by float64 rounding.
 */
import type { UpdateBoundConfig } from '../robustness/index.js';
import type { PartialMessage } from './messages.js';

export class PartialSum {
  readonly sum: Float64Array<ArrayBuffer>;
  weight = 0;
  readonly clients: string[] = [];

  constructor(readonly length: number) {
    this.sum = new Float64Array(length);
  }

  /** Folds in one client's delta (already decoded and screened) with its sample count. */
  add(clientId: string, delta: Float32Array, numSamples: number): void {
    if (delta.length !== this.length)
      throw new Error(`delta has ${delta.length} values, expected ${this.length}`);
    for (let i = 0; i < delta.length; i++) this.sum[i]! += delta[i]! * numSamples;
    this.weight += numSamples;
    this.clients.push(clientId);
  }

  /** Folds in another partial (already validated: partialProblem). */
  merge(sum: Float64Array | undefined, weight: number, clients: readonly string[]): void {
    if (sum) for (let i = 0; i < this.length; i++) this.sum[i]! += sum[i]!;
    this.weight += weight;
    this.clients.push(...clients);
  }

  /** The sample-weighted mean delta; throws when nothing was folded in. */
  mean(): Float32Array {
    if (this.weight <= 0) throw new Error('no updates to average');
    const out = new Float32Array(this.length);
    for (let i = 0; i < out.length; i++) out[i] = this.sum[i]! / this.weight;
    return out;
  }
}

/** What the master knows of one edge's round: the claims it granted that edge. */
export interface PartialExpectation {
  readonly roundId: number;
  readonly numParams: number;
  /** Client id → sample count, for each update of this edge the master accepted this round. */
  readonly claims: ReadonlyMap<string, number>;
  /** The bound each folded delta was held to: no coordinate beyond maxCoordinate, no norm beyond maxNorm. */
  readonly updateBound: Pick<UpdateBoundConfig, 'maxNorm' | 'maxCoordinate'>;
}

/**
 * Why a partial cannot be folded in, or undefined. It must be for the round, name only clients
 * whose claims the master granted to this edge (each once), weigh exactly their sample counts,
 * and its sum must be finite and no larger than those clients' bounded deltas can make it.
 */
export function partialProblem(
  partial: PartialMessage,
  expected: PartialExpectation,
): string | undefined {
  if (partial.roundId !== expected.roundId)
    return `partial is for round ${partial.roundId}, the open round is ${expected.roundId}`;
  const seen = new Set<string>();
  let weight = 0;
  for (const client of partial.clients) {
    if (seen.has(client)) return `client ${client} appears twice`;
    seen.add(client);
    const numSamples = expected.claims.get(client);
    if (numSamples === undefined)
      return `client ${client} has no accepted update through this edge in round ${expected.roundId}`;
    weight += numSamples;
  }
  if (partial.weight !== weight)
    return `weight ${partial.weight} differs from its clients' sample counts (${weight})`;
  return sumProblem(partial, weight, expected, { member: 'client', weightIs: `${weight} samples` });
}

/**
 * The checks every kind of partial shares once its members and weight are known: a sum exactly
 * when it has members, of the student's length, finite, and no larger than `weight` bounded
 * deltas can make it. `member` and `weightIs` only word the answer.
 */
export function sumProblem(
  partial: Pick<PartialMessage, 'clients' | 'sum'>,
  weight: number,
  expected: {
    numParams: number;
    updateBound: Pick<UpdateBoundConfig, 'maxNorm' | 'maxCoordinate'>;
  },
  words: { member: string; weightIs: string },
): string | undefined {
  if (partial.clients.length === 0)
    return partial.sum ? `a sum without ${words.member}s` : undefined;
  const sum = partial.sum;
  if (!sum) return `${partial.clients.length} ${words.member}(s) but no sum`;
  if (sum.length !== expected.numParams)
    return `sum has ${sum.length} values, the student ${expected.numParams}`;
  const { maxCoordinate, maxNorm } = expected.updateBound;
  // Each delta's coordinates are within ±maxCoordinate and its norm within maxNorm, so the
  // weighted sum's are within weight times those (the triangle inequality); a little slack
  // for float32 deltas scaled and folded in float64.
  const slack = 1 + 1e-6;
  let squares = 0;
  for (let i = 0; i < sum.length; i++) {
    const v = sum[i]!;
    if (!Number.isFinite(v)) return `sum value ${i} is ${v}, not finite`;
    if (Math.abs(v) > weight * maxCoordinate * slack)
      return `sum value ${i} is ${v}, beyond ${words.weightIs} × maxCoordinate ${maxCoordinate}`;
    squares += v * v;
  }
  if (Math.sqrt(squares) > weight * maxNorm * slack)
    return `sum norm ${Math.sqrt(squares)} exceeds ${words.weightIs} × maxNorm ${maxNorm}`;
  return undefined;
}
