/**
 * Buffered asynchronous rounds (fedbuff) over edges: the master's ledger of
 * the claims it granted, and its check of each edge's partial against it.
 *
 * Staleness is the master's alone: it admits an edge's claim as its buffer
 * admits a direct update (its dispatch ledger gives τ, coordinator/dispatches.ts)
 * and answers with a grant — the epoch (the buffer's aggregation, i.e. the
 * round id) the update belongs to, its weight s(τ), an id, and the factor the
 * master's update bound scales the delta by. The edge folds s(τ)·clip·Δ into
 * that epoch's partial, so when the buffer closes, the edge's partial names
 * grant ids and weighs exactly their s(τ) sum (edgeEpochs.ts).
 */
import type { UpdateBoundConfig } from '../robustness/index.js';
import type { Grant, PartialMessage } from './messages.js';
import { sumProblem } from './partialSum.js';

/** What the master keeps of one grant. */
export interface GrantRecord {
  readonly clientId: string;
  readonly weight: number;
  /** τ, for the aggregation's staleness record. */
  readonly staleness: number;
}

/**
 * The grants of each open buffer, per edge, and the grant each client's ack is to carry. A grant
 * is recorded when the buffer admits a claim and taken by the ack (edgeHub.ts) that follows at
 * once; a buffer's grants are forgotten when it closes.
 */
export class GrantLedger {
  private readonly epochs = new Map<number, Map<string, Map<string, GrantRecord>>>();
  private readonly unsent = new Map<string, Grant>();
  private next = 0;

  /** Records a grant of `edge`'s claim for `clientId` into buffer `epoch`. */
  grant(epoch: number, edge: string, record: GrantRecord, clip?: number): Grant {
    const grant: Grant = {
      epoch,
      weight: record.weight,
      id: `${epoch}.${this.next++}`,
      ...(clip !== undefined && clip < 1 ? { clip } : {}),
    };
    let byEdge = this.epochs.get(epoch);
    if (!byEdge) this.epochs.set(epoch, (byEdge = new Map()));
    let grants = byEdge.get(edge);
    if (!grants) byEdge.set(edge, (grants = new Map()));
    grants.set(grant.id, record);
    this.unsent.set(record.clientId, grant);
    return grant;
  }

  /** The grant `clientId`'s ack is to carry, once. */
  take(clientId: string): Grant | undefined {
    const grant = this.unsent.get(clientId);
    this.unsent.delete(clientId);
    return grant;
  }

  /** Edges that were granted claims in `epoch`: the ones whose partials the buffer waits for. */
  edges(epoch: number): string[] {
    return [...(this.epochs.get(epoch)?.keys() ?? [])];
  }

  /** Grant id → record, of `edge`'s grants in `epoch`. */
  grantsOf(epoch: number, edge: string): ReadonlyMap<string, GrantRecord> {
    return this.epochs.get(epoch)?.get(edge) ?? new Map();
  }

  /** The buffer closed: its grants are no longer expected (nor acks still to carry one). */
  close(epoch: number): void {
    this.epochs.delete(epoch);
    for (const [clientId, grant] of this.unsent)
      if (grant.epoch <= epoch) this.unsent.delete(clientId);
  }
}

/** What the master knows of one edge's buffer: the grants it made that edge. */
export interface BufferedPartialExpectation {
  readonly epoch: number;
  readonly numParams: number;
  readonly grants: ReadonlyMap<string, GrantRecord>;
  /** The bound each granted delta was held to (clipped to), before its s(τ) weight. */
  readonly updateBound: Pick<UpdateBoundConfig, 'maxNorm' | 'maxCoordinate'>;
}

/**
 * Why an edge's partial of a buffer cannot be folded in, or undefined. Its members must be grants
 * the master made that edge for that buffer, each once (a grant whose ack never reached the edge
 * is not folded there, so it may be missing); its weight must equal their s(τ) sum; its sum must
 * have the student's length, be finite, and be no larger than those weighted, bounded deltas can
 * make it: |Σ wᵢ·Δᵢ| ≤ Σ wᵢ · bound, coordinate by coordinate and in norm.
 */
export function bufferedPartialProblem(
  partial: PartialMessage,
  expected: BufferedPartialExpectation,
): string | undefined {
  if (partial.roundId !== expected.epoch)
    return `partial is for buffer ${partial.roundId}, the closing buffer is ${expected.epoch}`;
  const seen = new Set<string>();
  let weight = 0;
  for (const id of partial.clients) {
    if (seen.has(id)) return `grant ${id} appears twice`;
    seen.add(id);
    const grant = expected.grants.get(id);
    if (!grant) return `grant ${id} was not made to this edge for buffer ${expected.epoch}`;
    weight += grant.weight;
  }
  // The edge adds the same float64 weights in the order it received the grants, the order they
  // were made; the tolerance only spares a different order of additions.
  if (!(Math.abs(partial.weight - weight) <= 1e-9 * Math.max(1, weight)))
    return `weight ${partial.weight} differs from its grants' staleness weights (${weight})`;
  return sumProblem(partial, weight, expected, { member: 'grant', weightIs: `weight ${weight}` });
}
