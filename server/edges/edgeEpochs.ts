/**
 * An edge's side of buffered asynchronous rounds (fedbuff over edges): one
 * partial per buffer ("epoch") the master names in its grants. The edge never
 * decides staleness: a claim's ack carries the master's grant (edgeGrants.ts),
 * and the delta the edge holds is folded as Σ s(τᵢ)·clipᵢ·Δᵢ (float64) with
 * weight Σ s(τᵢ) into the partial of the grant's epoch. When the master closes
 * a buffer it asks for that epoch's partial; a grant for an epoch already sent
 * is never folded (the master would not count it).
 */
import type { ErrorCode, UpdateMessage } from '../../shared/protocol/index.js';
import type { UpdateBoundConfig } from '../robustness/index.js';
import { coordinateViolation, l2Norm } from '../robustness/index.js';
import { ContributionError, decodeDelta } from '../strategies/index.js';
import type { PartialMessage, RefusalTally, RoundOpen } from './messages.js';
import { grantSchema } from './messages.js';

/** Buffers held at once: the master closes them in order, so more than two means a lost close. */
const MAX_OPEN_EPOCHS = 4;

/** What the edge screens updates with: the latest buffer's opening. */
export interface BufferedScreen {
  readonly numParams: number;
  readonly updateBound: UpdateBoundConfig;
}

interface EpochSum {
  readonly sum: Float64Array<ArrayBuffer>;
  weight: number;
  readonly grants: string[];
}

export class EdgeEpochs {
  private latest: BufferedScreen | undefined;
  private readonly open = new Map<number, EpochSum>();
  private lastClosed = 0;
  /** Refusals and update bytes since the last partial went out: each goes in one partial. */
  private refusals: RefusalTally = {};
  private bytesIn = 0;

  /** A buffer opened at the master (again, for an edge it took for new: then nothing changes). */
  begin(message: RoundOpen): void {
    this.latest = { numParams: message.numParams, updateBound: message.updateBound };
    if (message.roundId > this.lastClosed) this.epoch(message.roundId);
  }

  /** The settings updates are screened with, once a buffer has opened. */
  get screen(): BufferedScreen | undefined {
    return this.latest;
  }

  /** Counts an update the edge refused itself. */
  tally(code: ErrorCode, bytes: number): void {
    const entry = (this.refusals[code] ??= { count: 0, bytes: 0 });
    entry.count += 1;
    entry.bytes += bytes;
    this.bytesIn += bytes;
  }

  /** Counts the bytes of an update the master answered (granted or not). */
  answered(bytes: number): void {
    this.bytesIn += bytes;
  }

  /**
   * Folds `delta` as the master's grant says; returns why it cannot (a malformed grant, a buffer
   * already sent, the wrong length), or undefined.
   */
  fold(rawGrant: unknown, delta: Float32Array): string | undefined {
    const parsed = grantSchema.safeParse(rawGrant);
    if (!parsed.success) return `not a grant: ${parsed.error.message}`;
    const grant = parsed.data;
    if (grant.epoch <= this.lastClosed)
      return `grant ${grant.id} is for buffer ${grant.epoch}, whose partial has gone`;
    const target = this.epoch(grant.epoch);
    if (!target) return `grant ${grant.id}: ${MAX_OPEN_EPOCHS} buffers are open already`;
    if (delta.length !== target.sum.length)
      return `delta has ${delta.length} values, expected ${target.sum.length}`;
    const scale = grant.weight * (grant.clip ?? 1);
    for (let i = 0; i < delta.length; i++) target.sum[i]! += scale * delta[i]!;
    target.weight += grant.weight;
    target.grants.push(grant.id);
    return undefined;
  }

  /**
   * The master closes buffer `epoch`: its partial (empty when nothing was granted here), with the
   * refusals and bytes since the last one. An older buffer still held was never asked for and
   * cannot be any more: it is dropped, named in `dropped`.
   */
  close(epoch: number): { partial: PartialMessage; dropped: number[] } {
    const held = this.open.get(epoch);
    const dropped = [...this.open.keys()].filter((e) => e < epoch);
    for (const e of [...dropped, epoch]) this.open.delete(e);
    this.lastClosed = Math.max(this.lastClosed, epoch);
    const partial: PartialMessage = {
      t: 'partial',
      roundId: epoch,
      ...(held && held.grants.length > 0 ? { sum: held.sum } : {}),
      weight: held?.weight ?? 0,
      clients: held?.grants ?? [],
      refusals: this.refusals,
      bytesIn: this.bytesIn,
    };
    this.refusals = {};
    this.bytesIn = 0;
    return { partial, dropped };
  }

  private epoch(epoch: number): EpochSum | undefined {
    let held = this.open.get(epoch);
    if (held) return held;
    const numParams = this.latest?.numParams;
    if (numParams === undefined || this.open.size >= MAX_OPEN_EPOCHS) return undefined;
    held = { sum: new Float64Array(numParams), weight: 0, grants: [] };
    this.open.set(epoch, held);
    return held;
  }
}

/**
 * An update's delta as an edge screens it under buffered rounds: decoded to the student's length
 * and every coordinate finite and within maxCoordinate (always refused otherwise), with its L2
 * norm. The norm is judged at the master, against the bound of the buffer the update goes into
 * (which the edge may not know yet); the grant says how much to clip.
 */
export function screenBufferedDelta(
  update: UpdateMessage,
  screen: BufferedScreen,
): { delta: Float32Array; norm: number } {
  const { delta } = decodeDelta(update, {
    global: { length: screen.numParams },
    screenDelta: (d) => {
      const violation = coordinateViolation(d, screen.updateBound.maxCoordinate);
      if (violation !== undefined)
        throw new ContributionError(`update bound: ${violation}`, 'rejected-weights');
      return { delta: d };
    },
  });
  return { delta, norm: l2Norm(delta) };
}
