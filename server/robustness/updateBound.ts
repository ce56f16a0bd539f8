/**
 * The bound every client's weight delta passes before it is folded into a round.
 *
 * Two checks, in this order:
 * 1. every coordinate is finite and |Δᵢ| ≤ `maxCoordinate`: a delta that fails is always
 *    refused (3e38 everywhere, 1e30, one huge coordinate), since no scaling makes it honest;
 * 2. the L2 norm is at most the round's norm bound (below); `onExcess` says whether a delta over
 *    it is refused or scaled down to it (clipped) and accepted.
 *
 * The norm bound of a round is `maxNorm` while no round has been seen, and after that
 * `min(maxNorm, max(minNorm, medianMultiple · median))`, where `median` is the median norm of
 * the deltas accepted in the last `historyRounds` rounds that accepted any (as accepted, i.e.
 * after clipping, so an attacker cannot ratchet the bound up). It is fixed while a round is open
 * (`openRound`), so every update of a round meets the same bound whatever order they arrive in.
 *
 * Norms are summed in float64: the squares of float32 values up to 3.4e38 stay finite there
 * (a float32 sum of squares of 1e20 would already be +Inf).
 */
import type { UpdateBoundConfig } from './config.js';

export type BoundAction = 'accept' | 'clip' | 'refuse';

export interface BoundVerdict {
  action: BoundAction;
  /** L2 norm of the delta as sent (float64); NaN when a coordinate is not finite. */
  norm: number;
  /** The norm bound it was held to. */
  bound: number;
  /**
   * What to fold in: the delta itself, its clipped copy, or undefined when refused (or when only
   * the norm was judged: `checkNorm`).
   */
  delta: Float32Array | undefined;
  /** Why it was clipped or refused, for the client's ack and the update's record; absent when accepted as sent. */
  reason?: string;
}

/** A number short enough for a reason string, still exact enough to compare by eye. */
function show(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : String(value);
}

/** L2 norm in float64; NaN when any value is not finite. */
export function l2Norm(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The first coordinate that is not finite or exceeds `maxCoordinate` in magnitude, with why;
 * undefined when every coordinate is within the bound.
 */
export function coordinateViolation(
  delta: Float32Array,
  maxCoordinate: number,
): string | undefined {
  for (let i = 0; i < delta.length; i++) {
    const v = delta[i]!;
    if (!Number.isFinite(v)) return `coordinate ${i} is ${v}, not finite`;
    if (Math.abs(v) > maxCoordinate)
      return `coordinate ${i} is ${show(v)}, beyond the per-coordinate bound ±${show(maxCoordinate)}`;
  }
  return undefined;
}

/** Accept, clip or refuse by norm alone (the coordinates already passed). */
function normVerdict(
  norm: number,
  bound: number,
  onExcess: UpdateBoundConfig['onExcess'],
): Pick<BoundVerdict, 'action' | 'norm' | 'bound' | 'reason'> {
  if (norm <= bound) return { action: 'accept', norm, bound };
  const over = `norm ${show(norm)} exceeds the round's bound ${show(bound)}`;
  if (onExcess === 'refuse') return { action: 'refuse', norm, bound, reason: over };
  return { action: 'clip', norm, bound, reason: `clipped: ${over}` };
}

/**
 * Judges one delta against a norm bound fixed for its round: the update bound's check, for a
 * caller that is given the bound (an edge applies the master's, server/edges) instead of
 * keeping the history that adapts it.
 */
export function judgeDelta(
  delta: Float32Array,
  bound: number,
  config: UpdateBoundConfig,
): BoundVerdict {
  const violation = coordinateViolation(delta, config.maxCoordinate);
  if (violation !== undefined)
    return { action: 'refuse', norm: l2Norm(delta), bound, delta: undefined, reason: violation };
  const verdict = normVerdict(l2Norm(delta), bound, config.onExcess);
  if (verdict.action === 'refuse') return { ...verdict, delta: undefined };
  if (verdict.action === 'accept') return { ...verdict, delta };
  const factor = bound / verdict.norm;
  const clipped = new Float32Array(delta.length);
  for (let i = 0; i < delta.length; i++) clipped[i] = delta[i]! * factor;
  return { ...verdict, delta: clipped };
}

export class UpdateBound {
  /** Accepted norms of past rounds, oldest first; only rounds that accepted any. */
  private readonly history: number[][] = [];
  private current: number[] = [];
  private roundBound: number;

  constructor(private readonly config: UpdateBoundConfig) {
    this.roundBound = config.maxNorm;
  }

  /** The norm bound of the round now open (or the next one). */
  get bound(): number {
    return this.roundBound;
  }

  /** Fixes the bound for a new round from the history so far. */
  openRound(): number {
    this.current = [];
    const { maxNorm, minNorm, medianMultiple } = this.config;
    const past = this.history.flat();
    this.roundBound =
      past.length === 0
        ? maxNorm
        : Math.min(maxNorm, Math.max(minNorm, medianMultiple * median(past)));
    return this.roundBound;
  }

  /**
   * Judges one delta against the open round's bound. Changes nothing: call `accepted` once the
   * update is actually folded in (it may still be refused for another reason).
   */
  check(delta: Float32Array): BoundVerdict {
    return judgeDelta(delta, this.roundBound, this.config);
  }

  /**
   * Judges the norm of a delta that was decoded and checked coordinate by coordinate elsewhere
   * (an edge, server/edges), against the open round's bound: the verdict carries no delta (the
   * edge holds it). Changes nothing, as `check`.
   */
  checkNorm(norm: number): BoundVerdict {
    const bound = this.roundBound;
    if (!Number.isFinite(norm) || norm < 0)
      return {
        action: 'refuse',
        norm,
        bound,
        delta: undefined,
        reason: `norm ${norm} is not a norm`,
      };
    return { ...normVerdict(norm, bound, this.config.onExcess), delta: undefined };
  }

  /** Notes the norm of a delta that was folded into the open round (after clipping). */
  accepted(verdict: BoundVerdict): void {
    if (verdict.action === 'refuse') return;
    this.current.push(Math.min(verdict.norm, verdict.bound));
  }

  /**
   * Ends the open round. Only an aggregated round's norms join the history: a round whose result
   * was refused (or that failed) must not move the bound.
   */
  closeRound(aggregated: boolean): void {
    if (aggregated && this.current.length > 0) {
      this.history.push(this.current);
      while (this.history.length > this.config.historyRounds) this.history.shift();
    }
    this.current = [];
  }
}
